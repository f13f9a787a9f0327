"""N:M semi-structured sparsity: in every group of M consecutive input weights, keep the N largest."""
from __future__ import annotations

from typing import Dict

import torch

from ..core.components import PRUNERS
from ..core.errors import UserError
from .base import Pruner, PruneStep
from .configs import NMConfig


@PRUNERS.register("NMSemiStructuredPruner", config=NMConfig,
                  description="N:M sparsity (e.g. 2:4): keep N of every M consecutive weights along the input.")
class NMSemiStructuredPruner(Pruner):
    def __init__(self, config: NMConfig, context):
        super().__init__(config, context, config.weights)
        for name in self.weights:
            inputs = self.weight(name).shape[1] if self.weight(name).dim() > 1 else 0
            if inputs % config.m:
                raise UserError(f"{name}: {inputs} input channels are not divisible into groups of m={config.m}")

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        return {name: nm_mask(self.weight(name), self.config.n, self.config.m) for name in self.weights}


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Groups run along dim 1 (input channels), at every output and kernel position."""
    moved = weight.detach().movedim(1, -1)  # (out, *kernel, in)
    groups = moved.abs().reshape(-1, m)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(1, groups.topk(n, dim=1).indices, True)
    return keep.reshape(moved.shape).movedim(-1, 1)
