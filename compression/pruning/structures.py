"""Structures of a weight tensor (filters, channels, rows, columns, kernels, blocks): scores and masks.

Each group type views the weight as (number of structures, elements per structure) so that
ranking and masking are the same code for every type.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..core.errors import UserError
from .configs import GROUP_TYPES

_DIMS = {"Filters": (4,), "3D": (4,), "Channels": (2, 4), "Rows": (2,), "Cols": (2,), "2D": (4,),
         "Blocks": (2, 4), "4D": (2, 4)}


def check_group_type(group_type: str, weight: torch.Tensor, name: str,
                     block_shape: Optional[Sequence[int]] = None) -> None:
    if group_type not in _DIMS:
        raise UserError(f"{name}: unknown group_type '{group_type}' (one of {', '.join(GROUP_TYPES)})")
    if weight.dim() not in _DIMS[group_type]:
        kinds = {2: "a Linear weight (2-D)", 4: "a Conv2d weight (4-D)"}
        what = kinds.get(weight.dim(), f"a {weight.dim()}-D tensor")
        allowed = " or ".join(f"{d}-D" for d in _DIMS[group_type])
        raise UserError(f"{name}: group_type '{group_type}' needs a {allowed} weight, but {name} is {what}")
    if group_type == "Blocks":
        _check_blocks(weight, name, block_shape)


def _check_blocks(weight: torch.Tensor, name: str, block_shape) -> None:
    if block_shape is None or len(block_shape) != weight.dim():
        raise UserError(f"{name}: group_type 'Blocks' needs kwargs.block_shape with {weight.dim()} sizes")
    for size, block in zip(weight.shape, block_shape):
        if block < 1 or size % block:
            raise UserError(f"{name}: block_shape {list(block_shape)} does not divide weight shape {list(weight.shape)}")


def structures_view(weight: torch.Tensor, group_type: str, block_shape=None) -> torch.Tensor:
    """(structures, elements) view (or copy) of the weight for this group type."""
    if group_type in ("Filters", "3D", "Rows"):
        return weight.reshape(weight.shape[0], -1)
    if group_type in ("Channels", "Cols"):
        return weight.transpose(0, 1).reshape(weight.shape[1], -1)
    if group_type == "2D":
        return weight.reshape(weight.shape[0] * weight.shape[1], -1)
    if group_type == "4D":
        return weight.reshape(1, -1)
    return _blocks(weight, block_shape)


def _blocks(weight: torch.Tensor, block_shape) -> torch.Tensor:
    split = []
    for size, block in zip(weight.shape, block_shape):
        split += [size // block, block]
    order = list(range(0, 2 * weight.dim(), 2)) + list(range(1, 2 * weight.dim(), 2))
    blocks = weight.reshape(split).permute(order)
    count = 1
    for size, block in zip(weight.shape, block_shape):
        count *= size // block
    return blocks.reshape(count, -1)


def expand_structure_mask(keep: torch.Tensor, weight: torch.Tensor, group_type: str, block_shape=None) -> torch.Tensor:
    """A per-structure keep vector back to the weight's shape."""
    if group_type in ("Filters", "3D", "Rows"):
        return keep.view(-1, *([1] * (weight.dim() - 1))).expand_as(weight).clone()
    if group_type in ("Channels", "Cols"):
        return keep.view(1, -1, *([1] * (weight.dim() - 2))).expand_as(weight).clone()
    if group_type == "2D":
        return keep.view(weight.shape[0], weight.shape[1], 1, 1).expand_as(weight).clone()
    if group_type == "4D":
        return keep.view(1).expand(weight.numel()).reshape(weight.shape).clone()
    grid = [size // block for size, block in zip(weight.shape, block_shape)]
    mask = keep.view(grid)
    for dim, block in enumerate(block_shape):
        mask = mask.repeat_interleave(block, dim=dim)
    return mask


def structure_scores(weight: torch.Tensor, group_type: str, norm: str = "l1", block_shape=None) -> torch.Tensor:
    """Mean absolute value (l1) or L2 norm per structure, as Distiller ranks them."""
    view = structures_view(weight.detach(), group_type, block_shape)
    if norm == "l2":
        return view.norm(p=2, dim=1)
    if norm == "max":
        return view.abs().max(dim=1).values
    return view.abs().mean(dim=1)


def lowest_k_mask(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Keep-vector that drops the round(fraction * n) lowest scores (never all of them)."""
    count = scores.numel()
    drop = min(int(round(fraction * count)), count - 1) if count > 1 else 0
    keep = torch.ones(count, dtype=torch.bool, device=scores.device)
    if drop > 0:
        keep[torch.argsort(scores, stable=True)[:drop]] = False
    return keep
