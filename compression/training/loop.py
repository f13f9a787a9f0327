"""The training loop, read in the order it runs: fit -> run_epoch -> train_one_epoch (evaluate is in
..evaluation, shared with the commands that only evaluate)."""
from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import nn

from ..core.errors import TrainingDiverged, TrainingInterrupted
from ..distributed import active as distributed_active
from ..distributed import any_rank, mean_across_ranks, sum_across_ranks
from ..evaluation import EvalResult, evaluate
from ..scheduler import CompressionScheduler
from ..sparsity import weight_counts
from ..stored_bits import mean_stored_bits
from .precision import Precision
from .reporting import Reporter
from .stopping import EpochProgress, StopRequest


def fit(run, reporter: Optional[Reporter] = None, stop: Optional[StopRequest] = None) -> Dict[str, Any]:
    """Train from run.start_epoch to run.epochs; evaluate, log and checkpoint every epoch.

    When `stop` is requested (a signal), the step in progress finishes, a checkpoint that
    --resume continues from is written, and TrainingInterrupted is raised.
    """
    reporter = reporter or Reporter()
    stop = stop or StopRequest()
    if run.compiled_forward is not None:
        run.compiled_forward.on_failure = reporter.on_warning
    reporter.on_fit_begin(run.start_epoch, run.epochs, run.loaders.steps_per_epoch)
    try:
        for epoch in range(run.start_epoch, run.epochs):
            run_epoch(run, epoch, reporter, stop)
    finally:
        reporter.on_fit_end()
    return run.finish()


def run_epoch(run, epoch: int, reporter: Reporter, stop: StopRequest) -> None:
    started = time.perf_counter()
    progress = run.take_progress(epoch)
    earlier = copy.deepcopy(progress)  # the steps run before a resume: in this epoch's means and seconds too
    run.loaders.begin_epoch(epoch, skip_batches=progress.step)
    run.scheduler.on_epoch_begin(epoch)
    run.precision.apply_layout(run.model)
    run.sync_ranks()
    try:
        train_loss = train_one_epoch(run.training_model, run.loaders.train, run.optimizer, run.train_loss,
                                     run.scheduler, epoch, run.device, reporter, progress, stop, run.precision)
    except _StopAfterStep:
        whole = _loss_components(run, earlier, progress.step - earlier.step)
        progress.component_sums = {name: mean * progress.step for name, mean in whole.items()}
        progress.seconds = earlier.seconds + time.perf_counter() - started
        where = f"in epoch {epoch} after {progress.step} of {run.loaders.steps_per_epoch} steps"
        raise _interrupted(stop, run.save_interrupted(epoch, progress), where) from None
    with run.scheduler.masks.forward_masked(), run.precision.autocast():
        val = evaluate(run.model, run.loaders.val, run.criterion, run.device, across_ranks=True)
    _check_weights(run.model, epoch)
    record = _epoch_record(run, epoch, train_loss, val, earlier)
    # training and validation of this process
    record["epoch_seconds"] = earlier.seconds + time.perf_counter() - started
    run.scheduler.on_epoch_end(epoch, metrics=record)
    for note in run.scheduler.take_notes():
        reporter.on_warning(f"epoch {epoch}: {note}")
    run.precision.apply_layout(run.model)
    run.sync_ranks()
    _after_epoch_end_policies(run, record)
    run.finish_epoch(epoch, record)
    reporter.on_epoch_end(record)
    if epoch + 1 < run.epochs and _agree(torch.tensor([False, stop.requested], device=run.device))[1]:
        raise _interrupted(stop, run.folder.checkpoint_path, f"after epoch {epoch}")


class _StopAfterStep(Exception):
    """Raised by train_one_epoch after the step during which a stop was requested."""


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn: Callable,
                    scheduler: CompressionScheduler, epoch: int, device: torch.device,
                    reporter: Reporter, progress: Optional[EpochProgress] = None,
                    stop: Optional[StopRequest] = None, precision: Optional[Precision] = None) -> float:
    """`loss_fn(images, outputs, targets, epoch)`: cross-entropy, or a distillation loss (its teacher runs
    under the same autocast as the model).

    Starts at `progress.step` (the loader already skips the steps run before) and keeps
    `progress` up to date. Returns the mean training loss over all processes.
    """
    progress = progress or EpochProgress()
    stop = stop or StopRequest()
    precision = precision or Precision()
    model.train()
    steps = progress.step + len(loader)
    loss_sum = torch.tensor(progress.loss_sum, device=device)
    for step, (images, targets) in enumerate(loader, start=progress.step):
        images, targets = precision.inputs(images, device), targets.to(device, non_blocking=True)
        scheduler.on_minibatch_begin(epoch, step, steps)
        with precision.autocast():
            loss = loss_fn(images, model(images), targets, epoch)
        loss = scheduler.before_backward_pass(epoch, step, steps, loss)
        diverged, stopping = _step_flags(loss, stop)
        if diverged:
            raise TrainingDiverged(f"the loss became {_describe(loss)} at epoch {epoch}, step {step}")
        optimizer.zero_grad(set_to_none=True)
        precision.backward_and_step(loss, optimizer)
        scheduler.on_minibatch_end(epoch, step, steps)
        loss_sum += loss.detach() * targets.size(0)
        progress.step, progress.seen = step + 1, progress.seen + targets.size(0)
        reporter.on_step_end(epoch, step, steps)
        if stopping:  # every process stops after this step: the sums saved are the whole group's
            total = sum_across_ranks(torch.stack([loss_sum, torch.tensor(float(progress.seen), device=device)]))
            progress.loss_sum, progress.seen = total[0].item(), int(total[1].item())
            raise _StopAfterStep()
    total = sum_across_ranks(torch.stack([loss_sum, torch.tensor(float(progress.seen), device=device)]))
    return (total[0] / total[1].clamp_min(1)).item()


def _step_flags(loss: torch.Tensor, stop: StopRequest) -> List[bool]:
    """(loss not finite, stop requested), the same in every process."""
    if not distributed_active():
        return [not torch.isfinite(loss).item(), stop.requested]
    return _agree(torch.stack([~torch.isfinite(loss.detach()), torch.tensor(stop.requested, device=loss.device)]))


def _agree(flags: torch.Tensor) -> List[bool]:
    """The flags as every process sees them: set if set on any process."""
    return any_rank(flags.to(torch.float32)).tolist()


def _describe(loss: torch.Tensor) -> str:
    value = loss.item()
    return str(value) if not math.isfinite(value) else "non-finite in another process"


def _interrupted(stop: StopRequest, checkpoint, where: str) -> TrainingInterrupted:
    return TrainingInterrupted(f"{stop.reason} received: stopped {where}; resume with --resume {checkpoint}",
                               stop.exit_code)


@torch.no_grad()
def _check_weights(model: nn.Module, epoch: int) -> None:
    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter).all():
            raise TrainingDiverged(f"weight {name} became non-finite during epoch {epoch}")


def _after_epoch_end_policies(run, record: Dict[str, Any]) -> None:
    """The epoch is recorded as the model it ends with: when an epoch-end policy pruned or thinned
    it, its size is counted again and it is validated again. Its bits per stored weight are counted
    here only, once per epoch (they sort every layer's values)."""
    record["weight_bits"] = round(mean_stored_bits(run.model), 3)
    size = _masked_size(run)
    if size == {key: record[key] for key in size}:
        return
    record.update(size)
    with run.scheduler.masks.forward_masked(), run.precision.autocast():
        val = evaluate(run.model, run.loaders.val, run.criterion, run.device, across_ranks=True)
    record.update(val_loss=val.loss, top1=val.top1, top5=val.top5)


def _masked_size(run) -> Dict[str, Any]:
    """The size of the model validation sees: forward-only masks hide their weights there too."""
    with run.scheduler.masks.forward_masked():
        nnz, total = weight_counts(run.model)
    return {"sparsity": 1.0 - nnz / total if total else 0.0, "nnz": nnz, "weights": total}


def _epoch_record(run, epoch: int, train_loss: float, val: EvalResult, earlier: EpochProgress) -> Dict[str, Any]:
    record = {
        "epoch": epoch,
        "train_loss": train_loss,
        "val_loss": val.loss,
        "top1": val.top1,
        "top5": val.top5,
        "lr": run.optimizer.param_groups[0]["lr"],
        **_masked_size(run),
    }
    record.update(_loss_components(run, earlier, len(run.loaders.train)))
    return record


def _loss_components(run, earlier: EpochProgress, steps: int) -> Dict[str, float]:
    """Each loss component's mean over the epoch so far: the `steps` this process ran (the sums start again)
    and the `earlier` ones, run before a resume."""
    components = {**run.train_loss.epoch_components(steps), **run.scheduler.mean_policy_losses(steps)}
    means = _mean_across_ranks(components, run.device)
    total = max(earlier.step + steps, 1)
    names = [*means, *(name for name in earlier.component_sums if name not in means)]
    return {name: (earlier.component_sums.get(name, 0.0) + means.get(name, 0.0) * steps) / total for name in names}


def _mean_across_ranks(values: Dict[str, float], device: torch.device) -> Dict[str, float]:
    """Loss components averaged over processes (every process has the same keys)."""
    if not values:
        return values
    keys = sorted(values)
    means = mean_across_ranks(torch.tensor([values[key] for key in keys], device=device, dtype=torch.float64))
    return dict(zip(keys, means.tolist()))
