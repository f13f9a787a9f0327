"""Element-wise magnitude masks (AGP's rate is in agp_rate.py)."""
from __future__ import annotations

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


