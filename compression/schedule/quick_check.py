"""The checks of a schedule that need no torch: what `compressor validate --no-build` runs in well under
a second, before (or instead of) building everything `train` builds."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from ..core.errors import ScheduleError
from ..models.recorded_names import recorded_parameters
from ..models.registry import MODELS, checked_when_built
from .coverage import skipped_by_length
from .model import Schedule
from .model_check import check_parameter_names

NOT_BUILT = ("the components were not built against the model (layer shapes, structures, thinning, quantizer "
             "overrides), nor the data, the checkpoints or the teacher: run without --no-build for those")


@dataclass
class QuickCheck:
    arch: str
    parameters_checked: bool  # the names the schedule gives were checked against the model's own
    notes: List[str] = field(default_factory=list)  # what was not checked, and why
    warnings: List[str] = field(default_factory=list)  # duplicate keys; policies the run's length skips


def check_without_building(schedule: Schedule, arch: str, strict: bool = False) -> QuickCheck:
    """Parameter names against the model's recorded ones (built-in models), and the policies the
    run's length skips (a ScheduleError with `strict`); the schedule itself was checked when parsed."""
    skipped = skipped_by_length(schedule, schedule.training.epochs)
    if strict and skipped:
        raise ScheduleError(skipped, f"{schedule.source} with {schedule.training.epochs} epochs")
    if not checked_when_built(arch):
        MODELS.get(arch)  # an unknown name: UserError with the names it may have meant
    names = None if checked_when_built(arch) else recorded_parameters().get(arch)
    if names is not None:
        check_parameter_names(schedule, names)
    check = QuickCheck(arch, names is not None, warnings=[str(p) for p in [*schedule.warnings, *skipped]])
    if names is None:
        check.notes.append(f"the parameter names were not checked: model '{arch}' is not one whose names this "
                           "release records (built-in models are)")
    check.notes.append(NOT_BUILT)
    return check
