"""A typed config made from a constructor's signature, and described in plain data so it can be made
again without importing the constructor's library (torch's lr schedulers are read this way when a
schedule is checked before torch loads; the catalog holds their descriptions)."""
from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Dict, List, Literal, Optional, Tuple, Union

from pydantic import ConfigDict, create_model

# (argument name, type as text, default as JSON data, required)
Field = Tuple[str, str, Any, bool]
_NAMESPACE = {"Any": Any, "List": List, "Dict": Dict, "Tuple": Tuple, "Optional": Optional, "Union": Union,
              "Literal": Literal, "float": float, "int": int, "bool": bool, "str": str, "None": None}
_DESCRIBED: Dict[type, List[Field]] = {}


def signature_fields(function: Any, hints: Dict[str, Any], skipped: set) -> List[Field]:
    """The arguments of `function` (besides `skipped` and *args/**kwargs), typed from `hints`."""
    fields = []
    for name, param in inspect.signature(function).parameters.items():
        if name in skipped or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        required = param.default is inspect.Parameter.empty
        fields.append((name, type_text(hints.get(name, Any)), None if required else param.default, required))
    return fields


def config_from_fields(name: str, fields: List[Field]) -> type:
    """The pydantic model (extra keys forbidden) whose fields `fields` describes."""
    spec = {arg: (eval(text, dict(_NAMESPACE)), ... if required else default)  # noqa: S307 (our own texts)
            for arg, text, default, required in fields}
    config = create_model(name, __config__=ConfigDict(extra="forbid"), **spec)
    _DESCRIBED[config] = [tuple(field) for field in fields]
    return config


def described_fields(config: type) -> Optional[List[Field]]:
    """The description `config` was made from, if config_from_fields made it."""
    return _DESCRIBED.get(config)


def type_text(hint: Any) -> str:
    """A type as text that config_from_fields reads back; a type it cannot spell is Any."""
    if hint is Any:
        return "Any"
    if hint is type(None):
        return "None"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return f"Literal[{', '.join(repr(arg) for arg in args)}]"
    if origin in (Union, types.UnionType):
        return f"Union[{', '.join(type_text(arg) for arg in args)}]"
    if origin in (list, List):
        return f"List[{type_text(args[0])}]" if args else "List[Any]"
    if origin in (tuple, Tuple) and args:
        return f"Tuple[{', '.join('...' if arg is Ellipsis else type_text(arg) for arg in args)}]"
    if origin in (dict, Dict) and args:
        return f"Dict[{type_text(args[0])}, {type_text(args[1])}]"
    if hint in (float, int, bool, str):
        return hint.__name__
    return "Any"
