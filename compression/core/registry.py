"""Named registries: one per component kind, filled by a decorator.

A built-in entry is also known before the code that registers it is imported: the shipped catalog
(compression/catalog.json) declares its name, typed config, description and data, so a schedule is
checked without torch. Its factory loads the built-ins on first call (see `_Deferred`).
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Type

from pydantic import BaseModel, ConfigDict

from .builtins import load_builtins
from .declarations import declared_config, declared_items
from .errors import UserError, did_you_mean


class NoArgs(BaseModel):
    """Config of an entry that takes no arguments."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    config: Type[BaseModel]
    description: str
    extra: Dict[str, Any] = field(default_factory=dict)
    module: str = ""  # the module that registered it: importing it alone registers it again


class Registry:
    """Maps a name to a factory, its typed config (a pydantic model) and a one-line description."""

    def __init__(self, kind: str, catalog_kind: Optional[str] = None):
        self.kind = kind
        self.catalog_kind = catalog_kind  # the catalog's list of this registry's built-in entries
        self._entries: Dict[str, Entry] = {}
        self._declared: Dict[str, Entry] = {}

    def register(
        self,
        name: Optional[str] = None,
        config: Type[BaseModel] = NoArgs,
        description: str = "",
        **extra: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
            self._add(name or factory.__name__, factory, config, description, _caller(), extra)
            return factory

        return decorate

    def add(self, name: str, factory: Callable[..., Any], config: Type[BaseModel] = NoArgs,
            description: str = "", *, registered_by: Optional[str] = None, **extra: Any) -> None:
        """`registered_by`: the module whose import registers it (default: the caller's)."""
        self._add(name, factory, config, description, registered_by or _caller(), extra)

    def _add(self, name: str, factory: Callable[..., Any], config: Type[BaseModel], description: str,
             module: str, extra: Dict[str, Any]) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        if not description:  # the factory's first docstring line
            description = next(iter((factory.__doc__ or "").strip().splitlines()), "")
        self._entries[name] = Entry(name, factory, config, description, dict(extra), module)

    def get(self, name: str) -> Entry:
        """The registered entry; else the catalog's declaration of a built-in one."""
        if name in self._entries:
            return self._entries[name]
        if name in self._declared_items():
            return self._declaration(name)
        raise UserError(did_you_mean(name, self.names(), self.kind))

    def registered(self, name: str) -> Entry:
        """The entry its code registered, loading the module the catalog says registers it (else every
        built-in) if need be: its factory is the real one. One module, not all: a digits model or
        dataset loads no torchvision."""
        module = self._declared_items().get(name, {}).get("module")
        if name not in self._entries and module:
            importlib.import_module(module)
        if name not in self._entries:
            load_builtins()
        if name not in self._entries:
            raise UserError(f"{self.kind} '{name}' is listed by this release but not available here "
                            "(a different torch or torchvision version?)")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._declared_items()

    def __iter__(self) -> Iterator[Entry]:
        """Every entry, built-ins loaded (their factories are the real ones)."""
        load_builtins()
        return iter(sorted(self._entries.values(), key=lambda e: e.name.lower()))

    def __len__(self) -> int:
        return len(set(self._entries) | set(self._declared_items()))

    def names(self) -> list:
        return sorted(set(self._entries) | set(self._declared_items()), key=str.lower)

    def _declared_items(self) -> Dict[str, Dict[str, Any]]:
        return {} if self.catalog_kind is None else declared_items(self.catalog_kind)

    def _declaration(self, name: str) -> Entry:
        if name not in self._declared:
            item = self._declared_items()[name]
            extra = {key: value for key, value in item.items() if key not in _ITEM_KEYS}
            config = declared_config(item)
            self._declared[name] = Entry(name, _Deferred(self, name), config, item["description"], extra)
        return self._declared[name]


_ITEM_KEYS = ("name", "description", "arguments", "config", "module")


def _caller() -> str:
    """The module that called register() or add(), two frames up."""
    return sys._getframe(2).f_globals.get("__name__", "")


class _Deferred:
    """The factory of a declared entry: calling it loads the built-ins and calls the registered one."""

    def __init__(self, registry: Registry, name: str):
        self.registry, self.name = registry, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.registry.registered(self.name).factory(*args, **kwargs)
