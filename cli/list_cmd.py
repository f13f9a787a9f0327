"""`compressor list`: what exists, with one-line descriptions and arguments."""
from __future__ import annotations

import click

from ..compression.builtins import load_builtins
from ..compression.core import components
from ..compression.models import MODELS
from ..datasets import DATASETS
from .common import emit_json, json_option, render_table

REGISTRIES = {
    "pruners": components.PRUNERS, "quantizers": components.QUANTIZERS,
    "regularizers": components.REGULARIZERS, "lr_schedulers": components.LR_SCHEDULERS,
    "extensions": components.EXTENSIONS, "models": MODELS, "datasets": DATASETS,
}


@click.command("list")
@click.argument("kind", type=click.Choice(list(REGISTRIES)))
@json_option
def list_command(kind, as_json):
    """List pruners, quantizers, regularizers, lr_schedulers, extensions, models or datasets.

    \b
    Examples:
      compressor list models
      compressor list lr_schedulers --json
    """
    load_builtins()
    entries = list(REGISTRIES[kind])
    items = [{"name": e.name, "description": e.description, "arguments": _arguments(e.config), **e.extra}
             for e in entries]
    if as_json:
        emit_json({"kind": kind, "items": items})
        return
    if kind == "models":
        render_table(f"{kind} ({len(items)})", ["name", "input", "classes", "dataset", "description"],
                     [(i["name"], "x".join(map(str, i["input_shape"])), i["num_classes"], i["default_dataset"],
                       i["description"]) for i in items])
        return
    render_table(f"{kind} ({len(items)})", ["name", "description", "arguments"],
                 [(i["name"], i["description"], ", ".join(i["arguments"])) for i in items])


def _arguments(config) -> list:
    return [name if info.is_required() else f"{name}={info.default!r}"
            for name, info in config.model_fields.items()]
