"""Parameter names as schedules write them: with or without DataParallel's 'module.' prefix."""
from __future__ import annotations

from typing import Iterable


def resolve_parameter_name(name: str, available: Iterable[str]) -> str:
    """The model's name for `name`, with or without DataParallel's 'module.' prefix; KeyError if none.

    Distiller wraps alexnet's and vgg's `features` in DataParallel, so its schedules also say
    `features.module.0.weight` for `features.0.weight`.
    """
    available = set(available)
    bare = name.replace("module.", "")
    candidates = [name, name[len("module."):] if name.startswith("module.") else f"module.{name}", bare,
                  f"module.{bare}"]
    for candidate in candidates:
        if candidate in available:
            return candidate
    raise KeyError(name)
