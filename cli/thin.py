"""`compressor thin`: physically remove the zeroed filters or channels of any checkpoint."""
from __future__ import annotations

import click
from rich.markup import escape

from .common import console, emit_json, json_option, render_mapping


@click.command()
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="A compressor checkpoint.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the thinned checkpoint.")
@click.option("--kind", type=click.Choice(["filters", "channels"]), default="filters", show_default=True,
              help="Remove all-zero filters (outputs) or channels (inputs).")
@click.option("--layer", "layers", multiple=True,
              help="Thin only this layer (repeatable); an error if it cannot be thinned.")
@json_option
def thin(checkpoint, out, kind, layers, as_json):
    """Remove zeroed filters/channels and everything that depends on them; outputs stay the same.

    The result loads in evaluate, summary, benchmark and train --checkpoint/--resume.

    \b
    Examples:
      compressor thin --checkpoint runs/x/best.pt --out runs/x/thin.pt
      compressor thin --checkpoint runs/x/best.pt --out thin.pt --kind channels --json
      compressor thin --checkpoint runs/x/best.pt --out thin.pt --layer layer1.0.conv1
    """
    # torch and the library load here, not for `--help`
    from ..compression.core.checkpoint import load_checkpoint, save_checkpoint
    from ..compression.workflows.thin_checkpoint import thin_checkpoint

    thinned = thin_checkpoint(load_checkpoint(checkpoint), kind, layers or None)
    save_checkpoint(thinned, out)
    summary = thinned["thinning_summary"]
    data = {"out": out, "kind": kind, "params_before": summary["params_before"],
            "params_after": summary["params_after"], "removed": summary["removed"],
            "skipped": summary["skipped"], "notes": summary["notes"]}
    if as_json:
        emit_json(data)
        return
    render_mapping(f"thinned {checkpoint}", {k: data[k] for k in ("out", "kind", "params_before", "params_after")})
    for item in summary["skipped"]:
        console.print(f"kept {item['layer']}: {item['reason']}", highlight=False, soft_wrap=True)
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
