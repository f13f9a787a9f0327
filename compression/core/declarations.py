"""The built-ins as the shipped catalog (compression/catalog.json) declares them: each registry's
entries with their typed configs, read without importing the components' code (or torch).
compression/catalog.py writes the file from the code; a test keeps the two equal."""
from __future__ import annotations

import importlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict

CATALOG_PATH = Path(__file__).resolve().parents[1] / "catalog.json"


@lru_cache(maxsize=1)
def _shipped() -> str:
    return CATALOG_PATH.read_text()


def read_catalog() -> Dict[str, Any]:
    """The shipped catalog: {"registries": {kind: [items]}, "schedule_schema": {...}}."""
    return json.loads(_shipped())


@lru_cache(maxsize=None)
def declared_items(kind: str) -> Dict[str, Dict[str, Any]]:
    """The shipped catalog's built-in entries of one registry, by name."""
    return {item["name"]: item for item in read_catalog()["registries"][kind]}


def declared_config(item: Dict[str, Any]) -> type:
    """The typed config a catalog item names (imported by the name the catalog gives: a module of the
    component's part that imports no torch), or made again from the fields it lists."""
    config = item["config"]
    if isinstance(config, dict):
        return _config_from_fields(config["name"], json.dumps(config["fields"]))
    module, _, name = config.partition(":")
    return getattr(importlib.import_module(module), name)


@lru_cache(maxsize=None)
def _config_from_fields(name: str, fields: str) -> type:
    from .signature_config import config_from_fields  # pydantic: not for `compressor list` and `schema`

    return config_from_fields(name, json.loads(fields))
