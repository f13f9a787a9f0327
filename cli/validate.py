"""`compressor validate`: every check and build `train` makes before its first batch, nothing run."""
from __future__ import annotations

import click

from ..compression.schedule import load_schedule
from ..compression.training import TrainOptions, apply_overrides, build_run_parts
from .common import console, emit_json, json_option, options_from


@click.command()
@click.option("--schedule", "schedule_path", required=True, type=click.Path(), help="Schedule YAML file.")
@options_from(TrainOptions, exclude=("out", "resume", "overwrite"))
@json_option
def validate(schedule_path, as_json, **values):
    """Check a schedule as `train` would, with the same options, running nothing.

    Syntax, classes, arguments, timing, layer names against the model, every component built,
    the data, the teacher and its hints: what `train` checks and builds before its first batch.

    A start or teacher checkpoint not trained yet, pretrained weights or data files not on this
    machine are noted, and checked as far as they can be without them.

    \b
    Examples:
      compressor validate --schedule schedules/digits_baseline.yaml
      compressor validate --schedule my_resnet.yaml --arch resnet18 --dataset fake
    """
    schedule = apply_overrides(load_schedule(schedule_path), TrainOptions(**values))
    parts = build_run_parts(schedule, checking=True, strict=bool(values.get("strict")))
    counts = {section: len(items) for section, items in schedule.components.items()}
    if as_json:
        emit_json({"valid": True, "schedule": schedule_path, "arch": parts.info.name,
                   "policies": len(schedule.policies), **counts, "notes": parts.notes, "warnings": parts.warnings})
        return
    for note in parts.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    for warning in parts.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    sections = ", ".join(f"{n} {section}" for section, n in counts.items() if n)
    console.print(f"[green]valid:[/] {schedule_path} ({parts.info.name}; {len(schedule.policies)} policies"
                  f"{'; ' + sections if sections else ''})", highlight=False)
