"""`compressor validate`: every check and build `train` makes before its first batch, nothing run."""
from __future__ import annotations

import click

from ..compression.schedule import load_schedule
from ..compression.schedule.quick_check import check_without_building
from ..compression.training.options import DEFAULT_ARCH, TrainOptions
from ..compression.training.overrides import apply_overrides
from .common import console, emit_json, json_option, options_from


@click.command()
@click.option("--schedule", "schedule_path", required=True, type=click.Path(), help="Schedule YAML file.")
@options_from(TrainOptions, exclude=("out", "resume", "overwrite"))
@click.option("--no-build", "no_build", is_flag=True,
              help="Only the checks that need no model built (well under a second): syntax, classes, arguments, "
                   "timing, the names of models, datasets and parameters.")
@click.option("--threads", type=int, help="CPU threads of the build (default: the cores this process may use).")
@json_option
def validate(schedule_path, as_json, no_build, threads, **values):
    """Check a schedule as `train` would, with the same options, running nothing.

    Syntax, classes, arguments, timing, layer names against the model, every component built,
    the data, the teacher and its hints: what `train` checks and builds before its first batch.

    A start or teacher checkpoint not trained yet, pretrained weights or data files not on this
    machine are noted, and checked as far as they can be without them. The checks that need no
    model run first, without loading torch: a mistake there is reported in well under a second,
    and --no-build stops after them.

    \b
    Examples:
      compressor validate --schedule schedules/digits_baseline.yaml
      compressor validate --schedule my_resnet.yaml --arch resnet18 --dataset fake
      compressor validate --schedule schedules/digits_agp.yaml --no-build
    """
    schedule = apply_overrides(load_schedule(schedule_path), TrainOptions(**values))
    strict = bool(values.get("strict"))
    quick = check_without_building(schedule, schedule.model.arch or DEFAULT_ARCH, strict)
    if no_build:
        _render(schedule_path, schedule, quick.arch, quick.notes, quick.warnings, as_json, built=False)
        return
    from ..compression.device import use_threads  # torch loads here: the checks above need none
    from ..compression.training.setup import build_run_parts

    use_threads(threads)
    parts = build_run_parts(schedule, checking=True, strict=strict)
    _render(schedule_path, schedule, parts.info.name, parts.notes, parts.warnings, as_json, built=True)


def _render(schedule_path, schedule, arch, notes, warnings, as_json, built: bool) -> None:
    counts = {section: len(items) for section, items in schedule.components.items()}
    if as_json:
        emit_json({"valid": True, "schedule": schedule_path, "arch": arch, "built": built,
                   "policies": len(schedule.policies), **counts, "notes": notes, "warnings": warnings})
        return
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    sections = ", ".join(_counted(n, section) for section, n in counts.items() if n)
    checked = "" if built else ", checked without building"
    console.print(f"[green]valid:[/] {schedule_path} ({arch}; {_counted(len(schedule.policies), 'policies')}"
                  f"{'; ' + sections if sections else ''}{checked})", highlight=False)


def _counted(count: int, plural: str) -> str:
    """'2 pruners', '1 pruner', '1 policy'."""
    if count != 1:
        return f"{count} {plural}"
    return f"1 {plural[:-3] + 'y' if plural.endswith('ies') else plural[:-1]}"
