"""LAPQ: loss-aware post-training quantization (Nahshan et al.; Distiller's `--qe-lapq`).

The clipping values of the whole model (each layer's weights, each quantized activation
tensor) are searched together, by scipy's Powell method, for the least loss of the simulated
quantized model on calibration images. The search starts from per-tensor clips (lapq_init.py:
each tensor's least Lp error, or a clip mode) and keeps the best clips it evaluates, so the
loss found is never above the start's.

    result = lapq(model, config, stats, plan, labelled_batches, LapqSettings(maxiter=2))
    simulated = simulate(result.model, result.config, stats, result.plan, ranges=result.ranges)
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy import optimize
from torch import nn

from ..core.errors import UserError
from .lapq_clips import LOWEST_FRACTION, ClipSpace
from .lapq_init import initial_fractions
from .lapq_settings import LapqSettings
from .ptq import Plan
from .ptq_config import PostTrainConfig

Batch = Tuple[torch.Tensor, torch.Tensor]


@dataclass
class LapqResult:
    """The clips found, in the form `simulate` and the int8 converter take, and the losses."""

    model: nn.Module           # the model with each layer's weights clamped to its clip
    config: PostTrainConfig    # clip_acts NONE: the activation clips are `ranges`
    plan: Plan
    ranges: Dict[str, Tuple[float, float]]  # quantized tensor -> its clipped range
    weight_clips: Dict[str, float]          # layer -> the fraction of its weight range kept
    fp32_loss: float
    initial_loss: float
    loss: float
    evaluations: int
    images: int
    seconds: float = 0.0
    init_mode: str = "L3"

    def summary(self) -> Dict[str, object]:
        return {"init_mode": self.init_mode, "images": self.images, "fp32_loss": self.fp32_loss,
                "initial_loss": self.initial_loss, "loss": self.loss, "evaluations": self.evaluations,
                "seconds": round(self.seconds, 1), "weight_clips": self.weight_clips}


def lapq(model: nn.Module, config: PostTrainConfig, stats: Dict, plan: Plan, batches: Sequence[Batch],
         settings: LapqSettings = LapqSettings()) -> LapqResult:
    """Search the weight and activation clips of all quantized layers together for the least
    cross-entropy of the simulated model on `batches` of (images, labels)."""
    started = time.perf_counter()
    batches = _eval_batches(batches, settings.eval_size)
    space = ClipSpace(model.eval(), config, stats, plan)
    if not space.knobs:
        raise UserError("LAPQ: nothing is quantized, so there is no clipping to search")
    start = initial_fractions(space, settings.init_mode, [images for images, _ in batches])
    objective = _Objective(space, batches)
    initial_loss = objective(start)
    options = {"maxiter": settings.maxiter, "xtol": 1e-2, "ftol": 1e-4}
    if settings.maxfev is not None:
        options["maxfev"] = settings.maxfev
    optimize.minimize(objective, start, method="Powell", bounds=[(LOWEST_FRACTION, 1.0)] * len(start),
                      options=options)
    best = objective.best
    return LapqResult(copy.deepcopy(space.model_for(best)), space.config, space.plan, space.activation_ranges(best),
                      space.weight_fractions(best), mean_loss(model, batches), initial_loss, objective.best_loss,
                      objective.evaluations, sum(len(labels) for _, labels in batches),
                      time.perf_counter() - started, settings.init_mode)


class _Objective:
    """The loss of the simulated model for a vector of clip fractions; remembers the best seen."""

    def __init__(self, space: ClipSpace, batches: List[Batch]):
        self.space, self.batches = space, batches
        self.evaluations = 0
        self.best_loss = float("inf")
        self.best = np.array([])

    def __call__(self, fractions: np.ndarray) -> float:
        fractions = np.clip(fractions, LOWEST_FRACTION, 1.0)
        loss = mean_loss(self.space.simulate(fractions).model, self.batches)
        self.evaluations += 1
        if loss < self.best_loss:
            self.best_loss, self.best = loss, fractions.copy()
        return loss


@torch.no_grad()
def mean_loss(model: nn.Module, batches: Sequence[Batch]) -> float:
    """Mean cross-entropy over all images of `batches`."""
    total, count = 0.0, 0
    for images, labels in batches:
        total += nn.functional.cross_entropy(model(images), labels, reduction="sum").item()
        count += len(labels)
    return total / count


def _eval_batches(batches: Sequence[Batch], size: Optional[int]) -> List[Batch]:
    """The first `size` images (all when None) of `batches`."""
    kept: List[Batch] = []
    remaining = size
    for images, labels in batches:
        if remaining is not None:
            images, labels = images[:remaining], labels[:remaining]
            remaining -= len(labels)
        if len(labels):
            kept.append((images, labels))
        if remaining is not None and remaining <= 0:
            break
    if not kept:
        raise UserError("LAPQ needs labelled calibration images: the loss it minimises is measured on them "
                        "(--calibration-size N, N >= 1, on a dataset with a training split)")
    return kept
