"""A run in progress: what it trains, where it writes, and the state a checkpoint keeps."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ...datasets import recorded_options
from ..core.checkpoint import load_checkpoint
from ..core.errors import UserError
from ..distillation import TrainingLoss
from ..early_exit import evaluate_early_exit
from ..distributed import Ranks, broadcast_from_main
from ..evaluation import evaluate
from ..models import ModelInfo, build_model
from ..models.exits import count_exits
from ..model_source import LoadedModel
from ..packing import export_packed
from ..quantization.qat import qat_record
from ..quantization.qat.layers import PREFIX as QAT_PREFIX
from ..report import compression_report
from ..restore import model_from_checkpoint
from ..schedule.model import Schedule
from ..scheduler import STRUCTURE_KEY, CompressionScheduler
from ..sparsity import weight_counts
from ..structure_state import structure_records
from .compiled import CompiledForward
from .precision import Precision
from .run_folder import RunFolder
from .stopping import EpochProgress


@dataclass
class Run:
    schedule: Schedule
    info: ModelInfo
    model: nn.Module
    loaders: Any
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    scheduler: CompressionScheduler
    device: torch.device
    folder: RunFolder
    epochs: int
    seed: int
    dense_weights: int  # Conv/Linear weights of the architecture before any thinning
    train_loss: TrainingLoss = field(default_factory=TrainingLoss)
    start_epoch: int = 0
    history: List[Dict[str, Any]] = field(default_factory=list)
    best_top1: float = -1.0
    best_density: float = 2.0
    best_epoch: int = -1
    best_weights: float = float("inf")  # Conv/Linear weights of the best model (fewer once thinned)
    best_bits: float = float("inf")  # bits per stored weight of the best model (fewer once shared or quantized)
    ranks: Ranks = field(default_factory=Ranks)
    resumed_progress: Optional[EpochProgress] = None  # an epoch interrupted part-way, from the checkpoint
    replaced: Optional[Path] = None  # where --overwrite moved the folder's earlier contents
    notes: List[str] = field(default_factory=list)  # settings changed to fit this machine
    warnings: List[str] = field(default_factory=list)  # policies this run's length skips or cuts short
    precision: Precision = field(default_factory=Precision)  # autocast, fp16's gradient scaler, memory format
    compiled_forward: Optional[CompiledForward] = None  # training.compile
    _wrapper: Optional[DistributedDataParallel] = None
    _wrapped_shapes: Tuple = ()

    @property
    def training_model(self) -> nn.Module:
        """What the training steps call: the model, under DistributedDataParallel with several processes,
        through torch.compile with `training.compile`."""
        module = self._wrapper if self._wrapper is not None else self.model
        return self.compiled_forward.wrap(module) if self.compiled_forward is not None else module

    def sync_ranks(self) -> None:
        """After policies ran: every process continues from rank 0's weights, buffers and masks.

        A policy that changed the model's parameters (thinning, new quantizer parameters) gets
        a fresh DistributedDataParallel wrapper, which registers the new parameters.
        """
        if not self.ranks.enabled:
            return
        shapes = tuple((name, tuple(p.shape)) for name, p in self.model.named_parameters())
        if self._wrapper is None or shapes != self._wrapped_shapes:
            device_ids = [self.device] if self.device.type == "cuda" else None
            self._wrapper = DistributedDataParallel(self.model, device_ids=device_ids,
                                                    find_unused_parameters=_may_skip_parameters(self.model))
            self._wrapped_shapes = shapes
        masks = self.scheduler.masks.masks
        broadcast_from_main([masks[name] for name in sorted(masks)])
        tensors = [p.detach() for p in self.model.parameters()] + list(self.model.buffers())
        broadcast_from_main(tensors)  # parameters(), as state_dict() leaves quantizer tensors out

    def take_progress(self, epoch: int) -> EpochProgress:
        """Where `epoch` starts: part-way when the run was interrupted in it, else at step 0."""
        progress, self.resumed_progress = self.resumed_progress, None
        if progress is not None and epoch == self.start_epoch:
            # the group's loss so far goes on in the first process; the others add their own from here
            # loss components are averaged over processes: each goes on from the group's means so far
            return progress if self.ranks.is_main else EpochProgress(step=progress.step,
                                                                      component_sums=progress.component_sums)
        return EpochProgress()

    def save_interrupted(self, epoch: int, progress: EpochProgress) -> Path:
        """A checkpoint in the middle of `epoch`, after `progress.step` steps; --resume continues there."""
        payload = self.state(epoch - 1)
        payload["epoch_progress"] = {**progress.state_dict(), "processes": self.ranks.world_size}
        self.folder.save(payload, best=False)
        return self.folder.checkpoint_path

    def finish_epoch(self, epoch: int, record: Dict[str, Any]) -> None:
        self.history.append(record)
        density = round(record["nnz"] / self.dense_weights, 4)
        bits = record.get("weight_bits", 32.0)
        is_best = best_rank(density, record["weights"], bits, record["top1"]) > \
            best_rank(self.best_density, self.best_weights, self.best_bits, self.best_top1)
        if is_best:
            self.best_density, self.best_weights, self.best_bits = density, record["weights"], bits
            self.best_top1, self.best_epoch = record["top1"], epoch
        self.folder.log_epoch(record, self.model)
        self.folder.save(self.state(epoch), best=is_best)

    def state(self, epoch: int) -> Dict[str, Any]:
        """Everything --resume needs, as weights-only data."""
        return {
            "arch": self.info.name,
            "num_classes": self.info.num_classes,
            "input_shape": list(self.info.input_shape),
            "dataset": self.schedule.dataset.name,
            "dataset_options": recorded_options(self.schedule.dataset),
            "epoch": epoch,
            "epochs": self.epochs,
            "seed": self.seed,
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "policies_state": self.scheduler.state_dict(),
            "masks": self.scheduler.masks.state_dict(),
            **structure_records(self.model),
            "qat": qat_record(self.scheduler.qat_quantizers()),
            "rng_state": torch.get_rng_state(),
            **self._numerics(),
            "schedule_text": self.schedule.text,
            "options": dict(self.schedule.options),
            "metrics": list(self.history),
            "best_top1": self.best_top1,
            "best_density": self.best_density,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
            "best_bits": self.best_bits,
        }

    def _numerics(self) -> Dict[str, Any]:
        """How the run computes: `evaluate` and --resume read it."""
        training = self.schedule.training
        return {"precision": self.precision.name, "grad_scaler": self.precision.state_dict(),
                "channels_last": training.channels_last, "compile": training.compile}

    def restore(self, payload: Dict[str, Any]) -> None:
        self.model.load_state_dict(payload["model_state"])
        if "optimizer_state" in payload:  # a thinned checkpoint starts with fresh optimizer state
            self.optimizer.load_state_dict(payload["optimizer_state"])
        # the checkpoint's own records rebuilt the changed layers before the optimizer was built on them
        policies = {key: value for key, value in payload.get("policies_state", {}).items() if key != STRUCTURE_KEY}
        keys = self.scheduler.load_state_dict(policies, strict=False)
        if keys.missing or keys.unexpected:  # `--resume CKPT --schedule OTHER`: the policies that match go on
            self.warnings.append(f"the checkpoint's policies differ from this schedule's: {keys.describe()}; "
                                 "those without saved state start fresh")
        self.scheduler.masks.load_state_dict(payload.get("masks", {}))
        if "rng_state" in payload:
            torch.set_rng_state(payload["rng_state"])
        if payload.get("precision") == self.precision.name:
            self.precision.load_state_dict(payload.get("grad_scaler", {}))
        self.history = list(payload.get("metrics", []))
        self.best_top1, self.best_epoch = payload.get("best_top1", -1.0), payload.get("best_epoch", -1)
        self.best_density = payload.get("best_density", 2.0)
        # checkpoints before this key: the model's own size (their runs ranked without it)
        self.best_weights = payload.get("best_weights", weight_counts(self.model)[1])
        self.best_bits = payload.get("best_bits", 32.0)  # before this key: ranked as FP32 weights
        self.start_epoch = payload["epoch"] + 1
        if "epoch_progress" in payload:
            self.resumed_progress = EpochProgress(**payload["epoch_progress"])
            _check_processes(self.resumed_progress, self.ranks)

    def finish(self) -> Dict[str, Any]:
        """Evaluate the best model on the test split and write report.json (the first process only)."""
        if not self.ranks.is_main:
            return {}
        best = copy.deepcopy(self.model)
        if self.folder.best_path.exists():  # rebuilt from its file: it may predate a thinning step
            best = model_from_checkpoint(load_checkpoint(self.folder.best_path))[0].to(self.device)
        with self.precision.autocast():
            test = evaluate(best, self.loaders.test, self.criterion, self.device)
        report = {
            "arch": self.info.name, "dataset": self.schedule.dataset.name, "epochs": self.epochs,
            "best_epoch": self.best_epoch, "best_val_top1": self.best_top1,
            "top1": test.top1, "top5": test.top5, "test_loss": test.loss, "out": str(self.folder.path),
            **self._numerics_report(),
        }
        early_exit = self.schedule.early_exit
        if early_exit is not None and early_exit.thresholds:
            with self.precision.autocast():
                report["early_exit"] = evaluate_early_exit(best, self.loaders.test, early_exit.thresholds,
                                                           self.device).to_dict()
        dense = build_model(self.info.name, num_classes=self.info.num_classes, input_shape=self.info.input_shape)
        best_file = self.folder.best_path if self.folder.best_path.exists() else None
        report.update(compression_report(dense, best, self.info.input_shape, best_file,
                                         dense_top1=self._start_top1(), top1=test.top1, device=self.device,
                                         measure_speed=not self.schedule.training.skip_latency))
        if self.schedule.training.pack and best_file is not None:
            report.update(self._packed(best_file))
        self.folder.write_json("report.json", report)
        self.folder.close()
        return report

    def _start_top1(self) -> Optional[float]:
        """Test top-1 of the model the run started from (`model.checkpoint`), to set the drop against; None
        for a run from scratch (or a start file no longer there)."""
        start = self.schedule.model.checkpoint
        if not start or not Path(start).is_file():
            return None
        model = model_from_checkpoint(load_checkpoint(start))[0].to(self.device)
        with self.precision.autocast():
            return evaluate(model, self.loaders.test, self.criterion, self.device).top1

    def _numerics_report(self) -> Dict[str, Any]:
        """Precision of training and of the evaluations (the same autocast); whether the steps ran compiled."""
        numerics = {key: value for key, value in self._numerics().items() if key != "grad_scaler"}
        numerics["evaluation_precision"] = self.precision.name
        if self.compiled_forward is not None:
            numerics["compiled"] = self.compiled_forward.compiled
            if self.compiled_forward.failure is not None:
                numerics["compile_failure"] = self.compiled_forward.failure
        return numerics

    def _packed(self, best_file) -> Dict[str, Any]:
        """best.cpk beside best.pt: the best model packed, loaded back and compared."""
        payload = load_checkpoint(best_file)
        model = model_from_checkpoint(payload)[0]
        result = export_packed(LoadedModel(model, self.info, payload), self.folder.path / "best.cpk")
        return {"packed_file": result.out, "packed_file_bytes": result.file_bytes,
                "packed_ratio": result.ratio, "packed_max_abs_diff": result.max_abs_diff}


def best_rank(density: float, weights: float, bits: float, top1: float) -> Tuple[float, float, float, float]:
    """Sort key of an epoch's model, highest best. As Distiller ranks them: the fewest non-zero weights
    first (pruned or thinned away), then the fewest weights (thinned away); then the fewest bits per
    stored weight (shared or quantized: what a packed file spends), by their power of two, then the most
    accurate."""
    return (-density, -weights, -bit_class(bits), top1)


def bit_class(bits: float) -> float:
    """log2 of the bits per stored weight, rounded: 32 (FP32), 8, 4, 1 are apart; the jitter between epochs
    of one precision (1.175 vs 1.176 bits: an 8-bit layer with one code more) stays in its class."""
    if math.isinf(bits):  # no epoch ranked yet
        return math.inf
    return round(math.log2(bits)) if bits >= 1 else 0


def _may_skip_parameters(model: nn.Module) -> bool:
    """Quantizer parameters (step sizes, clipping values) take no gradient while their policy is off;
    early exits none when no loss weights train them."""
    return (any(name.rsplit(".", 1)[-1].startswith(QAT_PREFIX) for name, _ in model.named_parameters())
            or count_exits(model) > 0)


def _check_processes(progress: EpochProgress, ranks: Ranks) -> None:
    """Part of an epoch run by N processes saw N shares of the batches: only N processes go on from it."""
    if progress.processes is not None and progress.processes != ranks.world_size:
        raise UserError(f"the checkpoint stopped part-way through an epoch run by {progress.processes} "
                        f"process{'es' if progress.processes > 1 else ''}; resume it with as many (its batch order "
                        f"and loss so far are theirs), not {ranks.world_size}")
