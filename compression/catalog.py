"""What `compressor list` and `compressor schema` print, read from a file instead of from the code.

Both describe the built-in registries and the schedule's JSON Schema, which come from the
typed configs that live beside the torch code of each component: building them imports torch,
torchvision and scikit-learn (several seconds). `catalog.json` holds the result, so reading it
imports nothing heavy. `python -m compressor.compression.catalog` writes it again from the
code, and a test fails when the file and the code disagree.

It lists the built-in components only; classes a Python program registers itself exist in that
program, not here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

CATALOG_PATH = Path(__file__).with_name("catalog.json")
KINDS = ("pruners", "quantizers", "regularizers", "lr_schedulers", "extensions", "models", "datasets")


def read_catalog() -> Dict[str, Any]:
    """The shipped catalog: {"registries": {kind: [items]}, "schedule_schema": {...}}."""
    return json.loads(CATALOG_PATH.read_text())


def build_catalog() -> Dict[str, Any]:
    """The catalog from the code: every built-in registry entry and the schedule's JSON Schema."""
    from .schedule.json_schema import schedule_json_schema

    registries = {kind: [_item(entry) for entry in registry] for kind, registry in _registries().items()}
    return json.loads(json.dumps({"registries": registries, "schedule_schema": schedule_json_schema()}))


def write_catalog() -> Path:
    CATALOG_PATH.write_text(json.dumps(build_catalog(), indent=1, sort_keys=True) + "\n")
    return CATALOG_PATH


def _registries() -> Dict[str, Any]:
    from ..datasets import DATASETS
    from .builtins import load_builtins
    from .core import components
    from .models import MODELS

    load_builtins()
    return {"pruners": components.PRUNERS, "quantizers": components.QUANTIZERS,
            "regularizers": components.REGULARIZERS, "lr_schedulers": components.LR_SCHEDULERS,
            "extensions": components.EXTENSIONS, "models": MODELS, "datasets": DATASETS}


def _item(entry) -> Dict[str, Any]:
    return {"name": entry.name, "description": entry.description, "arguments": _arguments(entry.config),
            **entry.extra}


def _arguments(config) -> List[str]:
    return [name if info.is_required() else f"{name}={info.default!r}"
            for name, info in config.model_fields.items()]


if __name__ == "__main__":
    print(write_catalog())
