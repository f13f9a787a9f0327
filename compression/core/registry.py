"""Named registries: one per component kind, filled by a decorator."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Type

from pydantic import BaseModel, ConfigDict

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


class Registry:
    """Maps a name to a factory, its typed config (a pydantic model) and a one-line description."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Entry] = {}

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
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(did_you_mean(name, self._entries, self.kind)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name.lower()))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list:
        return [entry.name for entry in self]
