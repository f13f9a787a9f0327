"""What `compressor list` and `compressor schema` print, read from a file instead of from the code.

Both describe the built-in registries and the schedule's JSON Schema, which come from the
typed configs that live beside the torch code of each component: building them imports torch,
torchvision and scikit-learn (several seconds). `catalog.json` holds the result, so reading it
imports nothing heavy. `python -m compressor.compression.catalog` writes it again from the
code, and a test fails when the file and the code disagree.

It lists the built-in components only; classes a Python program registers itself exist in that
program, not here. Each item also names its typed config (`module:Class`, a module that imports
no torch; or the fields of a config made from a signature), which is how the registries know the
built-ins before their code is imported (core/declarations.py reads them).
"""
from __future__ import annotations

import gzip
import importlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .core.declarations import CATALOG_PATH, read_catalog  # noqa: F401  (read_catalog: for list and schema)
from .models.recorded_names import PARAMETERS_PATH

KINDS = ("pruners", "quantizers", "regularizers", "lr_schedulers", "extensions", "models", "datasets")
# the dataset's own name is its config's field, with one default for all of them ('digits'): not an argument
_NOT_ARGUMENTS = {"datasets": ("name",)}


def build_catalog() -> Dict[str, Any]:
    """The catalog from the code: every built-in registry entry and the schedule's JSON Schema."""
    from .schedule.json_schema import schedule_json_schema

    registries = {kind: [_item(entry, _NOT_ARGUMENTS.get(kind, ())) for entry in registry]
                  for kind, registry in _registries().items()}
    return json.loads(json.dumps({"registries": registries, "schedule_schema": schedule_json_schema()}))


def write_catalog() -> Path:
    CATALOG_PATH.write_text(json.dumps(build_catalog(), indent=1, sort_keys=True) + "\n")
    text = json.dumps(build_parameter_catalog(), sort_keys=True)
    PARAMETERS_PATH.write_bytes(gzip.compress(text.encode(), mtime=0))
    return CATALOG_PATH


def build_parameter_catalog(names: Optional[List[str]] = None) -> Dict[str, List[str]]:
    """Parameter names of the built-in models (`names`, default all), built on the meta device (no memory)."""
    import torch

    from .models import MODELS, build_model

    catalog = {}
    for name in names if names is not None else MODELS.names():
        try:
            with torch.device("meta"):
                model = build_model(name)
        except NotImplementedError:  # an initialisation that reads weight values
            continue
        catalog[name] = [parameter for parameter, _ in model.named_parameters()]
    return catalog


def _registries() -> Dict[str, Any]:
    from ..datasets import DATASETS
    from .core.builtins import load_builtins
    from .core import components
    from .models import MODELS

    load_builtins()
    return {"pruners": components.PRUNERS, "quantizers": components.QUANTIZERS,
            "regularizers": components.REGULARIZERS, "lr_schedulers": components.LR_SCHEDULERS,
            "extensions": components.EXTENSIONS, "models": MODELS, "datasets": DATASETS}


def _item(entry, not_arguments: Sequence[str] = ()) -> Dict[str, Any]:
    return {"name": entry.name, "description": entry.description,
            "arguments": _arguments(entry.config, not_arguments), "config": _config_reference(entry.config),
            "module": entry.module, **entry.extra}


def _config_reference(config: type) -> Any:
    from .core.signature_config import described_fields

    fields = described_fields(config)
    if fields is not None:
        return {"name": config.__name__, "fields": fields}
    module = importlib.import_module(config.__module__)
    if getattr(module, config.__qualname__, None) is not config:
        raise ValueError(f"config {config.__qualname__} cannot be imported by name from {config.__module__}")
    return f"{config.__module__}:{config.__qualname__}"


def _arguments(config, not_arguments: Sequence[str] = ()) -> List[str]:
    return [name if info.is_required() else f"{name}={info.default!r}"
            for name, info in config.model_fields.items() if name not in not_arguments]


if __name__ == "__main__":
    print(write_catalog())
