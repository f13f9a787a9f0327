"""The training loop, read in the order it runs: fit -> train_one_epoch -> evaluate."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch
from torch import nn

from ..errors import TrainingDiverged
from ..policies import StepContext
from ..scheduler import CompressionScheduler
from ..sparsity import weight_counts
from .reporting import Reporter


@dataclass(frozen=True)
class EvalResult:
    loss: float
    top1: float
    top5: float
    samples: int


def fit(run, reporter: Optional[Reporter] = None) -> Dict[str, Any]:
    """Train from run.start_epoch to run.epochs; evaluate, log and checkpoint every epoch."""
    reporter = reporter or Reporter()
    reporter.on_fit_begin(run.start_epoch, run.epochs, len(run.loaders.train))
    for epoch in range(run.start_epoch, run.epochs):
        run.loaders.train.generator.manual_seed(run.seed * 100_003 + epoch)
        run.scheduler.on_epoch_begin(epoch)
        train_loss = train_one_epoch(run.model, run.loaders.train, run.optimizer, run.train_loss,
                                     run.scheduler, epoch, run.device, reporter)
        with run.scheduler.masks.forward_masked():
            val = evaluate(run.model, run.loaders.val, run.criterion, run.device)
        _check_weights(run.model, epoch)
        record = _epoch_record(run, epoch, train_loss, val)
        run.scheduler.on_epoch_end(epoch, record)
        run.finish_epoch(epoch, record)
        reporter.on_epoch_end(record)
    reporter.on_fit_end()
    return run.finish()


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn: Callable,
                    scheduler: CompressionScheduler, epoch: int, device: torch.device,
                    reporter: Reporter) -> float:
    """`loss_fn(images, outputs, targets, epoch)`: cross-entropy, or a distillation loss."""
    model.train()
    steps = len(loader)
    loss_sum = torch.zeros((), device=device)
    seen = 0
    for step, (images, targets) in enumerate(loader):
        ctx = StepContext(epoch, step, steps)
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        scheduler.on_step_begin(ctx)
        loss = loss_fn(images, model(images), targets, epoch)
        loss = scheduler.before_backward(ctx, loss)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"the loss became {loss.item()} at epoch {epoch}, step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.after_optimizer_step(ctx)
        loss_sum += loss.detach() * targets.size(0)
        seen += targets.size(0)
        reporter.on_step_end(epoch, step, steps)
    return loss_sum.item() / max(seen, 1)


@torch.no_grad()
def evaluate(model: nn.Module, loader, criterion: nn.Module, device: torch.device) -> EvalResult:
    """Loss, top-1 and top-5 (in percent) over the whole loader."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros(2, device=device)
    seen = 0
    for images, targets in loader:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        output = model(images)
        loss_sum += criterion(output, targets) * targets.size(0)
        correct += _correct_topk(output, targets)
        seen += targets.size(0)
    model.train(was_training)
    top1, top5 = (100.0 * correct / max(seen, 1)).tolist()
    return EvalResult(loss_sum.item() / max(seen, 1), top1, top5, seen)


def _check_weights(model: nn.Module, epoch: int) -> None:
    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter).all():
            raise TrainingDiverged(f"weight {name} became non-finite during epoch {epoch}")


def _correct_topk(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    k = min(5, output.size(1))
    hits = output.topk(k, dim=1).indices.eq(targets.unsqueeze(1))
    return torch.stack([hits[:, :1].sum(), hits.sum()]).to(torch.float32)


def _epoch_record(run, epoch: int, train_loss: float, val: EvalResult) -> Dict[str, Any]:
    nnz, total = weight_counts(run.model)
    record = {
        "epoch": epoch,
        "train_loss": train_loss,
        "val_loss": val.loss,
        "top1": val.top1,
        "top5": val.top5,
        "lr": run.optimizer.param_groups[0]["lr"],
        "sparsity": 1.0 - nnz / total if total else 0.0,
        "nnz": nnz,
    }
    record.update(run.train_loss.epoch_components(len(run.loaders.train)))
    record.update(run.scheduler.mean_policy_losses(len(run.loaders.train)))
    return record
