"""`compressor list`: what exists, with one-line descriptions and arguments."""
from __future__ import annotations

import click

from ..compression.catalog import KINDS, read_catalog
from ..compression.models.timm_zoo import INSTALL as TIMM_INSTALL, PREFIX as TIMM_PREFIX
from .common import console, emit_json, json_option, render_table


@click.command("list")
@click.argument("kind", type=click.Choice(KINDS))
@json_option
def list_command(kind, as_json):
    """List pruners, quantizers, regularizers, lr_schedulers, extensions, models or datasets.

    \b
    Examples:
      compressor list models
      compressor list lr_schedulers --json
    """
    items = read_catalog()["registries"][kind]
    if as_json:
        emit_json({"kind": kind, "items": items})
        return
    if kind == "models":
        render_table(f"{kind} ({len(items)})", ["name", "input", "classes", "dataset", "description"],
                     [(i["name"], "x".join(map(str, i["input_shape"])), i["num_classes"], i["default_dataset"],
                       i["description"]) for i in items])
        console.print(f"Also every timm model as {TIMM_PREFIX}<name> (--arch {TIMM_PREFIX}resnet18; timm.list_models() "
                      f"names them; {TIMM_INSTALL}) and your own as package.module:factory.",
                      markup=False, highlight=False, soft_wrap=True)
        return
    render_table(f"{kind} ({len(items)})", ["name", "description", "arguments"],
                 [(i["name"], i["description"], ", ".join(i["arguments"])) for i in items])
