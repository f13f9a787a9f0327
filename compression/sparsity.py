"""Which parameters count as prunable, and how sparse they are."""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn

PRUNABLE_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def prunable_weights(model: nn.Module) -> List[Tuple[str, torch.Tensor]]:
    """(parameter name, weight) of every Conv/Linear layer, in module order."""
    return [(f"{name}.weight" if name else "weight", module.weight)
            for name, module in model.named_modules() if isinstance(module, PRUNABLE_TYPES)]


def tensor_sparsity(tensor: torch.Tensor) -> float:
    return 1.0 - torch.count_nonzero(tensor).item() / max(tensor.numel(), 1)


def layer_sparsities(model: nn.Module) -> Dict[str, float]:
    return {name: tensor_sparsity(weight.detach()) for name, weight in prunable_weights(model)}


def weight_counts(model: nn.Module) -> Tuple[int, int]:
    """(non-zeros, total) over all Conv/Linear weights."""
    weights = [weight.detach() for _, weight in prunable_weights(model)]
    return sum(torch.count_nonzero(w).item() for w in weights), sum(w.numel() for w in weights)


def model_sparsity(model: nn.Module) -> float:
    """Fraction of zeros among all Conv/Linear weights."""
    nnz, total = weight_counts(model)
    return 1.0 - nnz / total if total else 0.0
