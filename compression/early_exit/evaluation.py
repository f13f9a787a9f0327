"""Accuracy with early exits taken, the share of images leaving at each exit, and the measured
speed-up of the early-exit inference path over the full model."""
from __future__ import annotations

import time
from itertools import islice
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..benchmark import LatencyResult, speedup_summary
from ..core.errors import UserError
from ..models.exits import (EarlyExitRunner, all_exit_outputs, count_exits, early_exit_forward, exit_decisions,
                            exit_points)
from .section import FLAGS, EarlyExitSection, check_early_exit


@dataclass(frozen=True)
class EarlyExitResult:
    """Figures in percent; per-exit lists run over the early exits, then the final exit."""

    thresholds: List[float]
    exits: List[str]  # the modules the early exits read, then "final"
    samples: int
    top1: float  # each image scored by the exit it leaves at
    top5: float
    loss: float  # cross-entropy of the logits each image leaves with
    final_top1: float  # every image through the final exit: the full model
    exit_counts: List[int]
    exit_shares: List[float]  # fraction of the images leaving at each exit
    exit_top1: List[Optional[float]]  # top-1 of the images leaving at each exit (None where none do)
    exit_top1_all: List[float]  # top-1 of each exit over all images
    exit_loss_all: List[float]  # cross-entropy of each exit over all images

    def weighted_loss(self, weights: Sequence[float]) -> float:
        """The training objective on these images: sum_i weight_i * exit_i loss + (1 - sum) * final loss."""
        early = sum(weight * loss for weight, loss in zip(weights, self.exit_loss_all))
        return early + (1.0 - sum(weights)) * self.exit_loss_all[-1]

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def early_exit_report(model: nn.Module, loader, section: EarlyExitSection, arch: str, device: torch.device,
                      timing_batches: int = 4, rounds: int = 10, warmup: int = 2) -> Dict[str, Any]:
    """`evaluate_early_exit` over the loader at the section's thresholds, and `time_early_exit` on its
    first `timing_batches` batches; with loss weights, the weighted training loss too."""
    check_early_exit(section, model, arch, source="command line")
    if not section.thresholds:
        raise UserError(f"{FLAGS['loss_weights']} goes with {FLAGS['thresholds']}: evaluation takes the exits at "
                        "the thresholds")
    model.to(device)
    result = evaluate_early_exit(model, loader, section.thresholds, device)
    report = result.to_dict()
    if section.loss_weights:
        report["loss_weights"] = list(section.loss_weights)
        report["weighted_loss"] = result.weighted_loss(section.loss_weights)
    batches = [images for images, _ in islice(loader, timing_batches)]
    report["timing"] = time_early_exit(model, batches, section.thresholds, rounds, warmup, device)
    return report


@torch.inference_mode()
def evaluate_early_exit(model: nn.Module, loader, thresholds: Sequence[float],
                        device: torch.device) -> EarlyExitResult:
    """Every exit's logits for every image, and the exit each image takes at `thresholds`
    (the first early exit whose softmax entropy is below its threshold, else the final exit)."""
    was_training = model.training
    model.eval()
    exits = count_exits(model) + 1
    counts, hits, hits_all, losses_all = (torch.zeros(exits) for _ in range(4))
    top1 = top5 = loss = 0.0
    seen = 0
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        outputs = torch.stack(all_exit_outputs(model, images))  # (exits, N, classes)
        taken = exit_decisions(outputs[:-1], thresholds)
        chosen = outputs[taken, torch.arange(targets.size(0), device=device)]
        correct = chosen.argmax(dim=1).eq(targets)
        top1 += correct.sum().item()
        top5 += chosen.topk(min(5, chosen.size(1)), dim=1).indices.eq(targets.unsqueeze(1)).any(dim=1).sum().item()
        loss += F.cross_entropy(chosen, targets, reduction="sum").item()
        counts += torch.bincount(taken, minlength=exits).cpu().float()
        hits += torch.bincount(taken[correct], minlength=exits).cpu().float()
        hits_all += outputs.argmax(dim=2).eq(targets).sum(dim=1).cpu().float()
        losses_all += torch.stack([F.cross_entropy(logits, targets, reduction="sum") for logits in outputs]).cpu()
        seen += targets.size(0)
    model.train(was_training)
    total = max(seen, 1)
    return EarlyExitResult(
        thresholds=list(thresholds), exits=[*exit_points(model), "final"], samples=seen,
        top1=100.0 * top1 / total, top5=100.0 * top5 / total, loss=loss / total,
        final_top1=100.0 * hits_all[-1].item() / total,
        exit_counts=[int(count) for count in counts.tolist()],
        exit_shares=[count / total for count in counts.tolist()],
        exit_top1=[100.0 * hit / count if count else None for hit, count in zip(hits.tolist(), counts.tolist())],
        exit_top1_all=[100.0 * hit / total for hit in hits_all.tolist()],
        exit_loss_all=[loss / total for loss in losses_all.tolist()])


def time_early_exit(model: nn.Module, batches: Sequence[torch.Tensor], thresholds: Sequence[float],
                    rounds: int = 10, warmup: int = 2, device: torch.device = torch.device("cpu")
                    ) -> Dict[str, Any]:
    """Time the full model and the early-exit path over the same image batches, interleaved.

    Each round runs both on every batch, back to back, the order alternating from batch to batch
    and round to round, so drifts in the machine's load hit both alike; the first `warmup`
    rounds are not recorded. Figures are milliseconds per round (all batches), summarised as
    medians and percentiles; `speedup` = full / early exit, with `speedup_low`/`speedup_high`
    the 10th and 90th percentiles of the ratio in each round.
    """
    if rounds < 1 or warmup < 0 or not batches:
        raise UserError("timing needs at least one batch and one round")
    was_training = model.training
    model.eval()
    runners = {"full": model, "early_exit": EarlyExitRunner(model, thresholds)}
    times: Dict[str, List[float]] = {name: [] for name in runners}
    batches = [batch.to(device) for batch in batches]
    try:
        with torch.inference_mode():
            taken = torch.cat([early_exit_forward(model, batch, thresholds)[1] for batch in batches])
            for round_index in range(warmup + rounds):
                spent = {name: 0.0 for name in runners}
                for batch_index, batch in enumerate(batches):
                    order = list(runners) if (round_index + batch_index) % 2 == 0 else list(runners)[::-1]
                    for name in order:
                        spent[name] += _time(runners[name], batch, device)
                if round_index >= warmup:
                    for name in runners:
                        times[name].append(spent[name])
    finally:
        model.train(was_training)
    images = sum(batch.size(0) for batch in batches)
    results = {name: LatencyResult.from_samples(samples, images) for name, samples in times.items()}
    shares = torch.bincount(taken.cpu(), minlength=len(thresholds) + 1).float() / max(images, 1)
    return {"full": results["full"].to_dict(), "early_exit": results["early_exit"].to_dict(),
            **speedup_summary(results["early_exit"], results["full"], names=("early exit", "full model")),
            "timed_images": images, "timed_batches": len(batches), "timed_exit_shares": shares.tolist()}


def _time(runner: nn.Module, batch: torch.Tensor, device: torch.device) -> float:
    """Milliseconds for one forward pass; on CUDA, waits for the kernels to finish."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    runner(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * 1000.0
