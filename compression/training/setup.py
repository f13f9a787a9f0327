"""Build everything a run needs from a validated schedule and command-line overrides."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from pydantic import ValidationError
from torch import nn

from ...datasets import build_datasets, build_loaders
from ...datasets.registry import target_shape
from ..core.checkpoint import load_checkpoint, load_resumable_checkpoint
from ..core.components import BuildContext
from ..core.errors import DataNotFound, ScheduleError, UserError, validation_message
from ..core.forward import forward_or_refuse
from ..device import available_cores, resolve_device
from ..distillation import DistillationLoss, TrainingLoss, build_teacher
from ..distillation_section import NO_TEACHER
from ..distributed import Ranks, join, process_device
from ..early_exit import EarlyExitLoss, check_early_exit
from ..models import ModelInfo, build_model, model_info
from ..models.exits import count_exits
from ..models.weights import load_weights
from ..pruning.masks import MaskStore
from ..restore import restore_structure
from ..schedule.coverage import skipped_by_length
from ..schedule.model import Schedule
from ..schedule.model_check import check_against_model
from ..scheduler import CompressionScheduler, build_scheduler
from ..sparsity import weight_counts
from .compiled import CompiledForward
from .options import DEFAULT_ARCH
from .precision import Precision, build_precision
from .run import Run
from .run_folder import RunFolder, check_run_folder, move_aside



@dataclass
class RunParts:
    """What a run trains with, built and checked before its first batch."""

    schedule: Schedule
    info: ModelInfo
    model: nn.Module
    dense_weights: int  # Conv/Linear weights of the architecture before any thinning
    loaders: Any
    optimizer: torch.optim.Optimizer
    scheduler: CompressionScheduler
    train_loss: TrainingLoss
    device: torch.device
    precision: Precision
    notes: List[str] = field(default_factory=list)  # settings changed to fit this machine; what `checking` stood in for
    warnings: List[str] = field(default_factory=list)  # the file's duplicate keys; policies the run's length skips


def build_run_parts(schedule: Schedule, payload: Optional[Dict[str, Any]] = None, ranks: Ranks = Ranks(),
                    checking: bool = False, strict: bool = False) -> RunParts:
    """Every build and check `train` makes before its first batch; `validate` calls it with `checking`.

    `checking` stands in for what may not exist yet where a schedule is checked (a start or
    teacher checkpoint still to be trained, pretrained weights or data files not on this
    machine): the model's architecture, untrained, and a note instead of an error. Policies due
    after the last epoch are warnings, or with `strict` a ScheduleError.
    """
    skipped = skipped_by_length(schedule, schedule.training.epochs)
    if strict and skipped:
        raise ScheduleError(skipped, f"{schedule.source} with {schedule.training.epochs} epochs")
    if payload is not None and schedule.model.arch is None:
        schedule.model = schedule.model.model_copy(update={"arch": payload["arch"]})
    if payload is not None:
        schedule.training = _recorded_numerics(schedule.training, payload)
    training = schedule.training
    device = process_device(resolve_device(training.device), ranks)
    notes: List[str] = []
    precision = build_precision(training.precision, device, training.channels_last)
    if training.precision == "fp16" and device.type == "cpu":
        notes.append("fp16 on cpu: torch's CPU convolutions train far slower in fp16 than in bf16; "
                     "--precision bf16 is the CPU's mixed precision")
    torch.manual_seed(training.seed)
    model, info = _build_model(schedule, payload is not None, notes if checking else None)
    dense_weights = weight_counts(model)[1]
    if payload is not None:
        _check_resumable(payload, info)
        restore_structure(model, payload, info.input_shape)
    check_against_model(schedule, model)
    check_early_exit(schedule.early_exit, model, info.name, schedule.source)
    schedule.dataset = dataset_for_model(schedule.dataset, info)
    check_forward(model, info, target_shape(schedule.dataset, info.input_shape), schedule.dataset.image_size)
    model.to(device)
    precision.apply_layout(model)
    schedule.dataset = _workers_within_cores(schedule.dataset, notes)
    loaders = _build_loaders(schedule, info, ranks, notes if checking else None)
    optimizer = build_optimizer(model, training)
    context = BuildContext(model, optimizer, MaskStore(model), info.input_shape, device)
    scheduler = build_scheduler(schedule, context, start_epoch=payload["epoch"] + 1 if payload else 0)
    train_loss = _training_loss(schedule, info, device, model, notes if checking else None)
    precision.apply_layout(*_teachers(train_loss))
    warnings = [str(problem) for problem in [*schedule.warnings, *skipped]]
    warnings += _untrained_exits(schedule, model, info.name)
    return RunParts(schedule, info, model, dense_weights, loaders, optimizer, scheduler, train_loss, device,
                    precision, notes, warnings)


_NUMERICS = ("precision", "channels_last", "compile")


def _recorded_numerics(training, payload: Dict[str, Any]):
    """A resumed run computes as its checkpoint records, where the schedule and the flags say nothing."""
    recorded = {key: payload[key] for key in _NUMERICS if key in payload and key not in training.model_fields_set}
    if not recorded:
        return training
    try:
        return type(training).model_validate({**training.model_dump(exclude_unset=True), **recorded})
    except ValidationError as err:
        raise UserError(f"the checkpoint records training settings this release cannot use ({recorded}): "
                        f"{validation_message(err.errors()[0])}") from None


def _untrained_exits(schedule: Schedule, model: nn.Module, arch: str) -> List[str]:
    exits = count_exits(model)
    if not exits or (schedule.early_exit is not None and schedule.early_exit.loss_weights):
        return []
    return [f"model '{arch}' has {exits} early exit{'s' if exits > 1 else ''} and no early_exit.loss_weights "
            "(--earlyexit-lossweights): only its final exit is trained"]


def prepare_run(schedule: Schedule, resume: Optional[str] = None, write_tensorboard: bool = True,
                ranks: Ranks = Ranks(), overwrite: bool = False, strict: bool = False,
                folder_checked: bool = False) -> Run:
    """Model, data, optimizer and policies, seeded; restored from `resume` when given.

    A run folder that already holds something is refused unless it is the one being resumed, or
    `overwrite` moves it aside whole, or it holds only this schedule's copy (a run that stopped
    before its first checkpoint), or `folder_checked` says the caller has checked it and owns
    what is in it (`compressor auto`'s search state). With several processes (`ranks` from
    torchrun) this joins their process group; every process builds the same run and only the
    first one writes.
    """
    folder_path = _run_dir(schedule, resume)
    if not folder_checked:
        check_run_folder(folder_path, resume, overwrite, schedule.text)
    payload = load_resumable_checkpoint(resume) if resume else None
    if payload is not None:
        _check_resume(payload, schedule, folder_path, resume)
    parts = build_run_parts(schedule, payload, ranks, strict=strict)
    join(ranks, parts.device)
    moved = move_aside(folder_path) if overwrite and not folder_checked and ranks.is_main else None
    folder = RunFolder(folder_path, write_tensorboard, writes=ranks.is_main)  # nothing written before
    run = Run(schedule, parts.info, parts.model, parts.loaders, parts.optimizer, nn.CrossEntropyLoss(),
              parts.scheduler, parts.device, folder, schedule.training.epochs, schedule.training.seed,
              parts.dense_weights, parts.train_loss, ranks=ranks, replaced=moved, notes=parts.notes,
              warnings=parts.warnings, precision=parts.precision,
              compiled_forward=CompiledForward() if schedule.training.compile else None)
    if payload is not None:
        run.restore(payload)
        folder.truncate_metrics(run.start_epoch)
    folder.write_schedule(schedule.text)
    return run


def _check_resume(payload: Dict[str, Any], schedule: Schedule, folder: Path, resume: str) -> None:
    """Refused before anything is written: a run with no epoch left, or one asked to go on in another folder
    (its best model and earlier metrics stay behind in its own)."""
    done, epochs = payload["epoch"] + 1, schedule.training.epochs
    if done >= epochs:
        raise UserError(f"nothing to do: the checkpoint has finished {done} of {epochs} epochs "
                        "(raise --epochs to train further)")
    own = Path(resume).resolve().parent
    if folder.resolve() != own and (own / "metrics.jsonl").exists():  # a run's checkpoint.pt, not a lone file
        raise UserError(f"--resume continues the run in its own folder ({own}), not in --out {folder}: leave --out "
                        f"out, or start a new run from this checkpoint with --checkpoint {resume}")


PROBE_BATCH = 2  # not 1: a forward that squeezes the batch axis away would pass on one image and train on none


def check_forward(model: nn.Module, info: ModelInfo, shape, image_size: Optional[int] = None) -> None:
    """Run a copy of the model in eval mode on a zero batch of `shape` (C, H, W), the shape the data is fed
    at: it must give a (batch, num_classes) logits tensor, else a UserError that says what to set, before a
    run folder is written."""
    size = f"--input-size C,H,W (model.input_size){' or dataset.image_size' if image_size else ''}"
    where = f"a batch of {PROBE_BATCH} inputs of shape {tuple(shape)} (C, H, W)"
    output = forward_or_refuse(copy.deepcopy(model).eval(), torch.zeros(PROBE_BATCH, *shape),
                               f"a batch of its input shape {tuple(shape)} (model '{info.name}')",
                               f"; give the input shape it takes with {size}")
    expected = (PROBE_BATCH, info.num_classes)
    if not isinstance(output, torch.Tensor):
        raise UserError(f"model '{info.name}' returns a {type(output).__name__} on {where}; training needs its "
                        f"logits, a tensor of shape {expected}: return the logits tensor alone from forward")
    if tuple(output.shape) != expected:
        raise UserError(f"model '{info.name}' returns a tensor of shape {tuple(output.shape)} on {where}, where "
                        f"training needs logits of shape {expected} ({info.num_classes} classes): give its class "
                        f"count with --num-classes N (model.num_classes), or its input shape with {size}, or "
                        f"return (batch, classes) logits from forward")


def _workers_within_cores(config, notes: List[str]):
    """More loading processes than this process may use cores only compete with training for them."""
    cores = available_cores()
    if config.workers <= cores:
        return config
    notes.append(f"dataset.workers {config.workers} lowered to {cores}, the cores this process may use")
    return config.model_copy(update={"workers": cores})


def _build_loaders(schedule: Schedule, info: ModelInfo, ranks: Ranks, notes: Optional[List[str]]):
    config = schedule.dataset
    try:
        splits = build_datasets(config, info.input_shape, info.num_classes, schedule.training.seed)
    except DataNotFound as err:  # files on another machine; data that is here but wrong is the error train gives
        if notes is None:
            raise
        notes.append(f"dataset '{config.name}' not checked: {err}")
        return None
    return build_loaders(splits, config.batch_size, config.workers, schedule.training.seed, ranks.rank,
                         ranks.world_size)


def _training_loss(schedule: Schedule, info: ModelInfo, device: torch.device, model: nn.Module,
                   notes: Optional[List[str]] = None) -> TrainingLoss:
    """Cross-entropy or distillation for the final output; with early-exit loss weights, the exits' too."""
    final = _final_loss(schedule, info, device, model, notes)
    early_exit = schedule.early_exit
    if early_exit is None or not early_exit.loss_weights:
        return final
    return EarlyExitLoss(early_exit.loss_weights, model, final)


def _teachers(loss: TrainingLoss) -> List[nn.Module]:
    """The distillation teacher inside a training loss (under an early-exit loss too), if any."""
    inner = getattr(loss, "final", loss)
    return [inner.teacher] if isinstance(inner, DistillationLoss) else []


def _final_loss(schedule: Schedule, info: ModelInfo, device: torch.device, model: nn.Module,
                notes: Optional[List[str]] = None) -> TrainingLoss:
    section = schedule.distillation
    if section is None:
        return TrainingLoss()
    teacher = section.teacher
    if teacher is None:
        raise UserError(NO_TEACHER)
    if notes is not None:
        teacher = _stand_in(teacher, "distillation.teacher", notes)
        if teacher is None:
            return TrainingLoss()
    return DistillationLoss(section, build_teacher(teacher, info.num_classes, device, info.input_shape), model, info.input_shape)


def _stand_in(source, where: str, notes: List[str]):
    """`source` (a model's arch/checkpoint/pretrained) with what is not on this machine left out, and a note;
    None when nothing is left to build."""
    weights = getattr(source, "weights", None)
    if weights and not Path(weights).is_file() and "_Weights." not in weights:
        notes.append(f"{where}.weights {weights} does not exist yet: checked against an untrained {source.arch}")
        source = source.model_copy(update={"weights": None})
    if source.checkpoint and not Path(source.checkpoint).is_file():
        if not source.arch:
            notes.append(f"{where}.checkpoint {source.checkpoint} does not exist yet: not checked")
            return None
        notes.append(f"{where}.checkpoint {source.checkpoint} does not exist yet: checked against an untrained "
                     f"{source.arch}")
        source = source.model_copy(update={"checkpoint": None})
    if source.pretrained and source.arch:
        try:
            build_model(source.arch, pretrained=True)
        except UserError as err:
            notes.append(f"{where}.pretrained: {err}: checked without its weights")
            source = source.model_copy(update={"pretrained": False})
    return source


def dataset_for_model(config, info: ModelInfo):
    """The model's default dataset unless the schedule or a flag named one."""
    if "name" in config.model_fields_set:
        return config
    if not info.default_dataset:
        raise UserError(f"model '{info.name}' has no default dataset: name one (dataset: {{name: ...}} or "
                        f"--dataset), or set `default_dataset` on the model's factory")
    return config.model_copy(update={"name": info.default_dataset})


def build_optimizer(model: nn.Module, training) -> torch.optim.Optimizer:
    params = model.parameters()
    if training.optimizer == "sgd":
        return torch.optim.SGD(params, lr=training.lr, momentum=training.momentum,
                               weight_decay=training.weight_decay)
    cls = torch.optim.Adam if training.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=training.lr, weight_decay=training.weight_decay)


def _build_model(schedule: Schedule, resuming: bool, notes: Optional[List[str]] = None):
    spec = schedule.model
    if notes is not None:
        spec = _stand_in(spec, "model", notes) or spec.model_copy(update={"checkpoint": None})
    arch = spec.arch or DEFAULT_ARCH
    info = model_info(arch, spec.input_size, spec.num_classes)
    model = build_model(arch, num_classes=info.num_classes, pretrained=spec.pretrained, input_shape=info.input_shape)
    if spec.weights and spec.checkpoint:
        raise UserError("model.weights and model.checkpoint both give starting weights: keep one")
    if spec.weights and not resuming:
        load_weights(model, spec.weights)
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
