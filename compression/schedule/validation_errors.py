"""Turn pydantic validation errors into located, readable problems."""
from __future__ import annotations

from typing import List, Type

from pydantic import BaseModel, ValidationError

from ..core.errors import Problem, did_you_mean, validation_message
from .yaml_source import PathKey, YamlDocument


def validate_model(doc: YamlDocument, path: PathKey, cls: Type[BaseModel], data, problems: List[Problem]):
    """`cls.model_validate(data)`, or None with the problems appended."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        problems.extend(_problem(doc, path, cls, error) for error in err.errors())
        return None


def _problem(doc: YamlDocument, path: PathKey, cls: Type[BaseModel], error: dict) -> Problem:
    loc = tuple(error["loc"])
    where = path + loc
    kind = error["type"]
    if kind == "extra_forbidden":
        message = did_you_mean(str(loc[-1]), _fields(cls), "argument")
    elif kind == "missing":
        message = "required argument is missing"
    elif kind == "model_type" or kind == "dict_type":
        message = f"expected a mapping, got {_type_name(error.get('input'))}"
    elif kind in ("value_error", "assertion_error"):  # a validator of ours: its message says what was wrong
        message = validation_message(error)
    else:
        message = f"{error['msg']} (got {_shown(error.get('input'))})"
    return doc.problem(where, message)


def _fields(cls: Type[BaseModel]) -> List[str]:
    return [info.alias or name for name, info in cls.model_fields.items()]


def _type_name(value) -> str:
    return {list: "a list", dict: "a mapping", str: "a string"}.get(type(value), type(value).__name__)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
