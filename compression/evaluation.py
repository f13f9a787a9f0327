"""Loss, top-1 and top-5 of a model over a loader (every process's share summed under torchrun)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .distributed import sum_across_ranks


@dataclass(frozen=True)
class EvalResult:
    loss: float
    top1: float
    top5: float
    samples: int


@torch.no_grad()
def evaluate(model: nn.Module, loader, criterion: nn.Module, device: torch.device,
             across_ranks: bool = False) -> EvalResult:
    """Loss, top-1 and top-5 (in percent) over the whole loader, without gradients.

    `across_ranks`: each process evaluated its share; the sums of all processes are combined.
    """
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
    sums = torch.cat([loss_sum.view(1), correct, torch.tensor([float(seen)], device=device)])
    if across_ranks:
        sums = sum_across_ranks(sums)
    loss, top1, top5, seen = sums.tolist()
    seen = int(seen)
    return EvalResult(loss / max(seen, 1), 100.0 * top1 / max(seen, 1), 100.0 * top5 / max(seen, 1), seen)


def _correct_topk(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    k = min(5, output.size(1))
    # int8 logits tie often: a stable sort ranks tied classes by index, so top-1 is argmax's class
    ranked = output.sort(dim=1, descending=True, stable=True).indices[:, :k]
    hits = ranked.eq(targets.unsqueeze(1))
    return torch.stack([hits[:, :1].sum(), hits.sum()]).to(torch.float32)
