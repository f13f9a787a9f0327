"""Bring a candidate back to its feet before it is scored: BatchNorm statistics re-estimated on a few
training batches, and optionally a few SGD steps through the training loop's own epoch function."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..distillation import TrainingLoss
from ..scheduler import CompressionScheduler
from ..training import Reporter, train_one_epoch

Batches = Sequence[Tuple[torch.Tensor, torch.Tensor]]


def first_batches(loader, count: int, device: torch.device) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """The first `count` batches of a loader (fewer if it has fewer), on `device` once."""
    batches = []
    for images, targets in loader:
        if len(batches) >= count:
            break
        batches.append((images.to(device), targets.to(device)))
    return batches


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Batches) -> None:
    """Running mean and variance of every BatchNorm, re-estimated as a plain average over `batches`.

    Removing filters changes what the next layers see; the statistics gathered on the dense
    model no longer fit, and a candidate scored with them looks worse than it is.
    """
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not layers or not batches:
        return
    momenta = {layer: layer.momentum for layer in layers}
    was_training = model.training
    model.train()
    try:
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # a cumulative average over the batches
        for images, _ in batches:
            model(images)
    finally:
        for layer, momentum in momenta.items():
            layer.momentum = momentum
        model.train(was_training)


def short_finetune(model: nn.Module, batches: Batches, lr: float, device: torch.device) -> None:
    """One pass of SGD (momentum 0.9) over `batches`, through the training loop's epoch function."""
    if not batches:
        return
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = CompressionScheduler([])
    scheduler.on_epoch_begin(0)
    train_one_epoch(model, list(batches), optimizer, TrainingLoss(), scheduler, 0, device, Reporter())
    scheduler.on_epoch_end(0)
    model.eval()
