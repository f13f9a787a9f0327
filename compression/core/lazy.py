"""Package namespaces whose names load on first use, so importing a package imports nothing heavy.

A command that only reads a schedule (`compressor validate --no-build`, `list`, `schema`) must not
pay for torch (seconds); the packages it passes through export their torch code lazily:

    __getattr__, __dir__ = lazy_exports(__name__, {"fit": ".loop", "TrainOptions": ".options"})
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, List, Tuple


def lazy_exports(package: str, exports: Dict[str, str]) -> Tuple[Callable[[str], object], Callable[[], List[str]]]:
    """A module `__getattr__` that imports `exports[name]` (a module relative to `package`) when
    `name` is first asked for, and the matching `__dir__`."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)

    def __dir__() -> List[str]:
        return sorted(exports)

    return __getattr__, __dir__
