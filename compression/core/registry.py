"""Named registries: one per component kind, filled by a decorator.

A built-in entry is also known before the code that registers it is imported: the shipped catalog
(compression/catalog.json) declares its name, typed config, description and data, so a schedule is
checked without torch. Its factory loads the built-ins on first call (see `_Deferred`). The
package wires in how the catalog is read and the built-ins loaded (`use_declarations`), as both
live in layers above this one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Type

from pydantic import BaseModel, ConfigDict

from .errors import UserError, did_you_mean


_declared_items: Callable[[str], Dict[str, Dict[str, Any]]] = lambda kind: {}
_declared_config: Callable[[Dict[str, Any]], Type[BaseModel]] = lambda item: NoArgs
_load_builtins: Callable[[], None] = lambda: None


def use_declarations(declared_items: Callable[[str], Dict[str, Dict[str, Any]]],
                     declared_config: Callable[[Dict[str, Any]], Type[BaseModel]],
                     load_builtins: Callable[[], None]) -> None:
    """How registries read the catalog's entries of a kind and an entry's config, and load the built-ins."""
    global _declared_items, _declared_config, _load_builtins
    _declared_items, _declared_config, _load_builtins = declared_items, declared_config, load_builtins


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
            self.add(name or factory.__name__, factory, config, description, **extra)
            return factory

        return decorate

    def add(self, name: str, factory: Callable[..., Any], config: Type[BaseModel] = NoArgs,
            description: str = "", **extra: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        if not description:  # the factory's first docstring line
            description = next(iter((factory.__doc__ or "").strip().splitlines()), "")
        self._entries[name] = Entry(name, factory, config, description, dict(extra))

    def get(self, name: str) -> Entry:
        """The registered entry; else the catalog's declaration of a built-in one."""
        if name in self._entries:
            return self._entries[name]
        if name in self._declared_items():
            return self._declaration(name)
        raise UserError(did_you_mean(name, self.names(), self.kind))

    def registered(self, name: str) -> Entry:
        """The entry its code registered, loading the built-ins if need be (its factory is the real one)."""
        if name not in self._entries:
            _load_builtins()
        if name not in self._entries:
            raise UserError(f"{self.kind} '{name}' is listed by this release but not available here "
                            "(a different torch or torchvision version?)")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._declared_items()

    def __iter__(self) -> Iterator[Entry]:
        """Every entry, built-ins loaded (their factories are the real ones)."""
        _load_builtins()
        return iter(sorted(self._entries.values(), key=lambda e: e.name.lower()))

    def __len__(self) -> int:
        return len(set(self._entries) | set(self._declared_items()))

    def names(self) -> list:
        return sorted(set(self._entries) | set(self._declared_items()), key=str.lower)

    def _declared_items(self) -> Dict[str, Dict[str, Any]]:
        return {} if self.catalog_kind is None else _declared_items(self.catalog_kind)

    def _declaration(self, name: str) -> Entry:
        if name not in self._declared:
            item = self._declared_items()[name]
            extra = {key: value for key, value in item.items() if key not in _ITEM_KEYS}
            self._declared[name] = Entry(name, _Deferred(self, name), _declared_config(item), item["description"],
                                         extra)
        return self._declared[name]


_ITEM_KEYS = ("name", "description", "arguments", "config")


class _Deferred:
    """The factory of a declared entry: calling it loads the built-ins and calls the registered one."""

    def __init__(self, registry: Registry, name: str):
        self.registry, self.name = registry, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.registry.registered(self.name).factory(*args, **kwargs)
