"""`compressor validate`: every check `train` makes before the first batch, nothing run."""
from __future__ import annotations

import click

from ..compression.models import build_model, model_info
from ..compression.schedule import load_schedule
from ..compression.training.checks import check_schedule_with_model
from ..compression.training.setup import DEFAULT_ARCH, TrainOptions, apply_overrides
from .common import console, emit_json, json_option


@click.command()
@click.option("--schedule", "schedule_path", required=True, type=click.Path(), help="Schedule YAML file.")
@click.option("--arch", help="Check against this model instead of the schedule's.")
@json_option
def validate(schedule_path, arch, as_json):
    """Check a schedule: syntax, classes, arguments, timing, and layer names against the model.

    \b
    Examples:
      compressor validate --schedule schedules/digits_baseline.yaml
      compressor validate --schedule my_resnet.yaml --arch resnet18
    """
    schedule = apply_overrides(load_schedule(schedule_path), TrainOptions(arch=arch))
    arch_name = schedule.model.arch or DEFAULT_ARCH
    model = build_model(arch_name, num_classes=schedule.model.num_classes)
    notes = check_schedule_with_model(schedule, model, model_info(arch_name))
    counts = {section: len(items) for section, items in schedule.components.items()}
    if as_json:
        emit_json({"valid": True, "schedule": schedule_path, "arch": arch_name,
                   "policies": len(schedule.policies), **counts, "notes": notes})
        return
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    parts = ", ".join(f"{n} {section}" for section, n in counts.items() if n)
    console.print(f"[green]valid:[/] {schedule_path} ({arch_name}; {len(schedule.policies)} policies"
                  f"{'; ' + parts if parts else ''})", highlight=False)
