"""`compressor validate`: every check train makes before the first batch, without training data or weights."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import List

import torch
from torch import nn

from ..components import BuildContext
from ..distillation import DistillationLoss, build_teacher
from ..models import ModelInfo
from ..pruning.masks import MaskStore
from ..schedule.model import Schedule
from ..schedule.model_check import check_against_model
from .setup import build_scheduler

CPU = torch.device("cpu")


def check_schedule_with_model(schedule: Schedule, model: nn.Module, info: ModelInfo) -> List[str]:
    """Names against the model, every component built, the teacher and its hints checked.

    Raises UserError/ScheduleError for what train would refuse; returns notes on what could
    only be checked in part (a teacher checkpoint that does not exist yet).
    """
    check_against_model(schedule, model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    build_scheduler(schedule, BuildContext(model, optimizer, MaskStore(model), info.input_shape, CPU))
    if schedule.distillation is None:
        return []
    return _check_teacher(schedule, model, replace(info, num_classes=schedule.model.num_classes or info.num_classes))


def _check_teacher(schedule: Schedule, model: nn.Module, info: ModelInfo) -> List[str]:
    """Build the teacher's structure (no pretrained weights needed) and probe the hints on it."""
    section = schedule.distillation
    teacher, notes = section.teacher, []
    if teacher.checkpoint and not Path(teacher.checkpoint).is_file():
        if not teacher.arch:
            return [f"distillation.teacher.checkpoint {teacher.checkpoint} does not exist yet: teacher not checked"]
        notes.append(f"distillation.teacher.checkpoint {teacher.checkpoint} does not exist yet: "
                     f"checked against an untrained {teacher.arch}")
        teacher = teacher.model_copy(update={"checkpoint": None})
    teacher = teacher.model_copy(update={"pretrained": False})  # the same modules, without the download
    loss = DistillationLoss(section, build_teacher(teacher, info.num_classes, CPU), model, info.input_shape)
    if loss.hints is not None:
        loss.hints.remove()
    return notes
