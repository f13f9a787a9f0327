"""The JSON Schema of a schedule file, assembled from the typed configs of every registered class."""
from __future__ import annotations

from typing import Any, Dict

from ...datasets import DatasetConfig
from ..core.builtins import load_builtins
from ..core.components import COMPONENT_SECTIONS
from ..distillation_section import DistillationSection
from ..early_exit import EarlyExitSection
from .parse import MAX_EPOCH
from .policy_args import POLICY_ARGS
from .sections import ModelSection, TrainingSection

_REF = "#/$defs/{model}"


def schedule_json_schema() -> Dict[str, Any]:
    load_builtins()
    defs: Dict[str, Any] = {}
    properties: Dict[str, Any] = {"version": {"const": 1, "description": "Schedule format version."}}
    for key, cls in (("model", ModelSection), ("dataset", DatasetConfig), ("training", TrainingSection),
                     ("distillation", DistillationSection), ("early_exit", EarlyExitSection)):
        properties[key] = _ref(cls, defs)
    for section, (_, registry) in COMPONENT_SECTIONS.items():
        variants = [_component(entry.name, entry.config, entry.description, defs) for entry in registry]
        instance = {"oneOf": variants} if variants else {"type": "object", "required": ["class"]}
        properties[section] = {"type": "object", "additionalProperties": instance,
                               "description": f"Instances of {registry.kind}es, by instance name."}
    properties["policies"] = {"type": "array", "items": _policy(defs)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "compressor schedule",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "$defs": defs,
    }


def _ref(cls: type, defs: Dict[str, Any]) -> Dict[str, Any]:
    schema = cls.model_json_schema(ref_template=_REF)
    defs.update(schema.pop("$defs", {}))
    defs[cls.__name__] = schema
    return {"$ref": _REF.format(model=cls.__name__)}


def _component(name: str, config: type, description: str, defs: Dict[str, Any]) -> Dict[str, Any]:
    schema = config.model_json_schema(ref_template=_REF)
    defs.update(schema.pop("$defs", {}))
    properties = {"class": {"const": name}, **schema.get("properties", {})}
    return {"type": "object", "description": description, "properties": properties,
            "required": ["class", *schema.get("required", [])], "additionalProperties": False}


def _policy(defs: Dict[str, Any]) -> Dict[str, Any]:
    epoch = {"type": "integer", "minimum": 0}
    timing = {"starting_epoch": {**epoch, "maximum": MAX_EPOCH},
              "ending_epoch": {"type": "integer", "minimum": 1, "maximum": MAX_EPOCH},
              "frequency": {"type": "integer", "minimum": 1, "maximum": MAX_EPOCH},
              "epochs": {"type": "array", "items": epoch, "minItems": 1}}
    variants = []
    for kind, args in POLICY_ARGS.items():
        target = {"type": "object", "required": ["instance_name"], "additionalProperties": False,
                  "properties": {"instance_name": {"type": "string"}, "args": _ref(args, defs)}}
        variants.append({"type": "object", "required": [kind], "additionalProperties": False,
                         "properties": {kind: target, **timing}})
    return {"oneOf": variants}


__all__ = ["schedule_json_schema"]
