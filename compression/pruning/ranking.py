"""Element-wise magnitude masks and the AGP schedule."""
from __future__ import annotations

from typing import Sequence

import torch


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask zeroing the `sparsity` fraction of elements with the smallest magnitude."""
    if sparsity <= 0:
        return torch.ones_like(weight, dtype=torch.bool)
    count = int(round(sparsity * weight.numel()))
    if count == 0:
        return torch.ones_like(weight, dtype=torch.bool)
    flat = weight.detach().abs().flatten()
    keep = torch.ones_like(flat, dtype=torch.bool)
    keep[torch.argsort(flat, stable=True)[:count]] = False
    return keep.view_as(weight)


def threshold_mask(weight: torch.Tensor, threshold: float) -> torch.Tensor:
    return weight.detach().abs() > threshold


def agp_target(initial: float, final: float, epoch: int, due_epochs: Sequence[int]) -> float:
    """Distiller's cubic rate: final + (initial - final) * (1 - (epoch - start) / span)^3.

    span = last due epoch - first due epoch, which equals ((end - start - 1) // frequency) * frequency
    for a starting_epoch/ending_epoch/frequency range, so the final sparsity is reached at the
    last epoch the policy runs.
    """
    start, last = due_epochs[0], due_epochs[-1]
    span = last - start
    if span <= 0:
        return final
    progress = min(max((epoch - start) / span, 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3
