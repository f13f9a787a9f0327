"""Command-line options over a schedule's sections, validated like the file (no torch: `validate`
applies them before anything is built)."""
from __future__ import annotations

import copy
from typing import Optional

from pydantic import ValidationError

from ..core.errors import UserError, validation_message
from ..distillation_section import NO_TEACHER, DistillationSection, teacher_from_flag
from ..early_exit.section import EarlyExitSection, flag_values, with_flags
from ..schedule.model import Schedule
from .options import TrainOptions, overridden_fields, recorded_options

_SECTIONS = ("model", "dataset", "training")


def apply_overrides(schedule: Schedule, options: TrainOptions) -> Schedule:
    """A copy of the schedule with the options applied and validated like the file."""
    schedule = copy.copy(schedule)
    schedule.options = recorded_options(options)
    schedule.distillation = _distillation_overrides(schedule.distillation, options)
    schedule.early_exit = _early_exit_overrides(schedule.early_exit, options)
    for section in _SECTIONS:
        for option, name in overridden_fields(section).items():
            value = getattr(options, option)
            if value is not None:
                setattr(schedule, section, _override(getattr(schedule, section), option, name, value))
    return schedule


def _override(current, option: str, name: str, value):
    """`current` with `name` set to `value`, validated like the file."""
    values = current.model_dump(exclude_unset=True)
    if option == "data_dir":  # the flag names where the data is: it replaces the file's `path` (read first)
        values.pop("path", None)
    try:
        return type(current).model_validate({**values, name: value})
    except ValidationError as err:
        raise UserError(f"--{option.replace('_', '-')} {value!r}: {validation_message(err.errors()[0])}") from None


def _distillation_overrides(section: Optional[DistillationSection], options: TrainOptions):
    """Distiller's --kd-* flags over the file's `distillation:` section."""
    values = section.model_dump(exclude_unset=True) if section is not None else {}
    if options.kd_teacher is not None:
        values["teacher"] = teacher_from_flag(options.kd_teacher).model_dump(exclude_unset=True)
    kd_fields = overridden_fields("distillation")
    flags = {field: getattr(options, option) for option, field in kd_fields.items()
             if getattr(options, option) is not None}
    if not values and not flags:
        return section
    if "teacher" not in values and section is not None:
        raise UserError(NO_TEACHER)
    if "teacher" not in values:
        raise UserError("--kd-* options need a teacher: --kd-teacher CKPT|ARCH or a distillation: section")
    try:
        return DistillationSection.model_validate({**values, **flags})
    except ValidationError as err:
        error = err.errors()[0]
        if not error["loc"]:  # the section as a whole (end_epoch after start_epoch)
            raise UserError(f"distillation (with the --kd-* flags): {validation_message(error)}") from None
        option = next((o for o, f in kd_fields.items() if f == error["loc"][0]), "kd_teacher")
        raise UserError(f"--{option.replace('_', '-')}: {validation_message(error)}") from None


def _early_exit_overrides(section: Optional[EarlyExitSection], options: TrainOptions):
    """Distiller's --earlyexit_thresholds / --earlyexit_lossweights over the file's `early_exit:` section."""
    flags = flag_values({name: getattr(options, option) for option, name in overridden_fields("early_exit").items()})
    return with_flags(section, flags) if flags else section
