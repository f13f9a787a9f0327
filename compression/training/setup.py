"""Build everything a run needs from a validated schedule and command-line overrides."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from pydantic import ValidationError
from torch import nn

from ...datasets import build_datasets, build_loaders
from ..checkpoint import load_checkpoint, restore_structure
from ..components import POLICY_KEYS, BuildContext
from ..distributed import Ranks, join, process_device
from ..distillation import (DistillationLoss, DistillationSection, TrainingLoss, build_teacher,
                            teacher_from_flag)
from ..errors import Problem, ScheduleError, UserError
from ..lr_schedulers import build_lr_scheduler
from ..models import ModelInfo, build_model, model_info
from ..policies import LRPolicy
from ..pruning.masks import MaskStore
from ..schedule.model import Schedule
from ..schedule.model_check import check_against_model
from ..scheduler import CompressionScheduler, ScheduledPolicy
from ..sparsity import weight_counts
from .run import Run
from .run_folder import RunFolder

DEFAULT_ARCH = "digits_cnn"


@dataclass
class TrainOptions:
    """Command-line values; None keeps what the schedule says."""

    arch: Optional[str] = None
    pretrained: Optional[bool] = None
    checkpoint: Optional[str] = None
    dataset: Optional[str] = None
    data_dir: Optional[str] = None
    batch_size: Optional[int] = None
    workers: Optional[int] = None
    epochs: Optional[int] = None
    lr: Optional[float] = None
    seed: Optional[int] = None
    device: Optional[str] = None
    out: Optional[str] = None
    resume: Optional[str] = None
    kd_teacher: Optional[str] = None
    kd_temp: Optional[float] = None
    kd_distill_wt: Optional[float] = None
    kd_student_wt: Optional[float] = None
    kd_teacher_wt: Optional[float] = None
    kd_start_epoch: Optional[int] = None


# option name -> (schedule section, field)
_OVERRIDES = {
    "arch": ("model", "arch"), "pretrained": ("model", "pretrained"), "checkpoint": ("model", "checkpoint"),
    "dataset": ("dataset", "name"), "data_dir": ("dataset", "data_dir"), "batch_size": ("dataset", "batch_size"),
    "workers": ("dataset", "workers"), "epochs": ("training", "epochs"), "lr": ("training", "lr"),
    "seed": ("training", "seed"), "device": ("training", "device"), "out": ("training", "out"),
}


# option name -> field of the distillation section
_KD_OVERRIDES = {"kd_temp": "temperature", "kd_distill_wt": "distill_weight", "kd_student_wt": "student_weight",
                 "kd_teacher_wt": "teacher_weight", "kd_start_epoch": "start_epoch"}


def apply_overrides(schedule: Schedule, options: TrainOptions) -> Schedule:
    """A copy of the schedule with the options applied and validated like the file."""
    schedule = copy.copy(schedule)
    schedule.distillation = _distillation_overrides(schedule.distillation, options)
    for option, (section, name) in _OVERRIDES.items():
        value = getattr(options, option)
        if value is None:
            continue
        current = getattr(schedule, section)
        try:
            updated = type(current).model_validate({**current.model_dump(exclude_unset=True), name: value})
        except ValidationError as err:
            message = err.errors()[0]["msg"]
            raise UserError(f"--{option.replace('_', '-')} {value!r}: {message}") from None
        setattr(schedule, section, updated)
    return schedule


def _distillation_overrides(section: Optional[DistillationSection], options: TrainOptions):
    """Distiller's --kd-* flags over the file's `distillation:` section."""
    values = section.model_dump(exclude_unset=True) if section is not None else {}
    if options.kd_teacher is not None:
        values["teacher"] = teacher_from_flag(options.kd_teacher).model_dump(exclude_unset=True)
    flags = {field: getattr(options, option) for option, field in _KD_OVERRIDES.items()
             if getattr(options, option) is not None}
    if not values and not flags:
        return section
    if "teacher" not in values:
        raise UserError("--kd-* options need a teacher: --kd-teacher CKPT|ARCH or a distillation: section")
    try:
        return DistillationSection.model_validate({**values, **flags})
    except ValidationError as err:
        error = err.errors()[0]
        option = next((o for o, f in _KD_OVERRIDES.items() if f == error["loc"][0]), "kd_teacher")
        raise UserError(f"--{option.replace('_', '-')}: {error['msg']}") from None


def prepare_run(schedule: Schedule, resume: Optional[str] = None, write_tensorboard: bool = True,
                ranks: Ranks = Ranks()) -> Run:
    """Model, data, optimizer and policies, seeded; restored from `resume` when given.

    With several processes (`ranks` from torchrun) this joins their process group; every
    process builds the same run and only the first one writes the run folder.
    """
    payload = load_checkpoint(resume) if resume else None
    if payload is not None and schedule.model.arch is None:
        schedule.model = schedule.model.model_copy(update={"arch": payload["arch"]})
    training = schedule.training
    device = process_device(resolve_device(training.device), ranks)
    torch.manual_seed(training.seed)
    model, info = _build_model(schedule, resuming=payload is not None)
    dense_weights = weight_counts(model)[1]
    if payload is not None:
        _check_resumable(payload, info)
        restore_structure(model, payload, info.input_shape)
    check_against_model(schedule, model)
    schedule.dataset = dataset_for_model(schedule.dataset, info)
    model.to(device)
    splits = build_datasets(schedule.dataset, info.input_shape, info.num_classes, training.seed)
    loaders = build_loaders(splits, schedule.dataset.batch_size, schedule.dataset.workers, training.seed,
                            ranks.rank, ranks.world_size)
    optimizer = build_optimizer(model, training)
    context = BuildContext(model, optimizer, MaskStore(model), info.input_shape, device)
    scheduler = build_scheduler(schedule, context)
    train_loss = _training_loss(schedule, info, device, model)
    join(ranks, device)
    folder = RunFolder(_run_dir(schedule, resume), write_tensorboard, writes=ranks.is_main)  # nothing written before
    run = Run(schedule, info, model, loaders, optimizer, nn.CrossEntropyLoss(), scheduler, device,
              folder, training.epochs, training.seed, dense_weights, train_loss, ranks=ranks)
    if payload is not None:
        run.restore(payload)
        folder.truncate_metrics(run.start_epoch)
    folder.write_schedule(schedule.text)
    return run


def _training_loss(schedule: Schedule, info: ModelInfo, device: torch.device, model: nn.Module) -> TrainingLoss:
    section = schedule.distillation
    if section is None:
        return TrainingLoss()
    teacher = build_teacher(section.teacher, info.num_classes, device)
    return DistillationLoss(section, teacher, model, info.input_shape)


def dataset_for_model(config, info: ModelInfo):
    """The model's default dataset unless the schedule or a flag named one."""
    if "name" in config.model_fields_set:
        return config
    return config.model_copy(update={"name": info.default_dataset})


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device '{name}' requested but CUDA is not available here (use --device cpu)")
    return torch.device(name)


def build_optimizer(model: nn.Module, training) -> torch.optim.Optimizer:
    params = model.parameters()
    if training.optimizer == "sgd":
        return torch.optim.SGD(params, lr=training.lr, momentum=training.momentum,
                               weight_decay=training.weight_decay)
    cls = torch.optim.Adam if training.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=training.lr, weight_decay=training.weight_decay)


def build_scheduler(schedule: Schedule, context: BuildContext) -> CompressionScheduler:
    """One runtime policy per `policies:` item; an instance used twice is built once."""
    instances: Dict[tuple, Any] = {}
    scheduled = []
    for spec in schedule.policies:
        key = (spec.kind, spec.instance)
        component = schedule.component(POLICY_KEYS[spec.kind], spec.instance)
        if key not in instances:
            instances[key] = _build_component(spec.kind, component, context)
        policy = LRPolicy(instances[key]) if spec.kind == "lr_scheduler" else instances[key].policy(spec)
        scheduled.append(ScheduledPolicy(spec.instance, spec, policy))
    return CompressionScheduler(scheduled, context.masks)


def _build_component(kind: str, component, context: BuildContext):
    """Problems only visible with the model (a Filters group on a Linear weight, ...) keep their YAML place."""
    try:
        if kind == "lr_scheduler":
            return build_lr_scheduler(component, context.optimizer)
        return component.entry.factory(component.config, context)
    except UserError as err:
        raise ScheduleError([Problem(component.path, str(err), component.line)]) from None


def _build_model(schedule: Schedule, resuming: bool = False):
    spec = schedule.model
    arch = spec.arch or DEFAULT_ARCH
    info = model_info(arch)
    model = build_model(arch, num_classes=spec.num_classes, pretrained=spec.pretrained)
    info = ModelInfo(info.name, info.input_shape, spec.num_classes or info.num_classes,
                     info.default_dataset, info.description)
    if spec.checkpoint and not resuming:  # a resumed run's own checkpoint supersedes its start
        payload = load_checkpoint(spec.checkpoint)
        _check_resumable(payload, info)
        restore_structure(model, payload, info.input_shape)
        model.load_state_dict(payload["model_state"])
    return model, info


def _check_resumable(payload: Dict[str, Any], info: ModelInfo) -> None:
    if payload.get("arch") != info.name or payload.get("num_classes") != info.num_classes:
        raise UserError(f"checkpoint holds '{payload.get('arch')}' with {payload.get('num_classes')} classes, "
                        f"but the run builds '{info.name}' with {info.num_classes} classes")


def _run_dir(schedule: Schedule, resume: Optional[str]) -> Path:
    if schedule.training.out:
        return Path(schedule.training.out)
    if resume:
        return Path(resume).parent
    stem = Path(schedule.source).stem if schedule.source not in ("", "schedule") else "run"
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
