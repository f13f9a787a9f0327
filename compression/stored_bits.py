"""Bits per stored weight: the code width a packed file gives each kept Conv/Linear weight value.

Shared (k-means), quantized (QAT) and binarized weights take few distinct values: a packed file
stores each as a k-bit code, per tensor or per output channel, whichever is smaller
(core/packed.py). Counting those distinct values tells a shared or 4-bit epoch from an FP32 one
at the same sparsity, which the best-checkpoint ranking needs (training/run.py).
"""
from __future__ import annotations

import math
from typing import Dict

import torch
from torch import nn

from .core.packed import continuous_values
from .quantization.qat.layers import quantized_modules
from .sparsity import prunable_weights


def value_bits(weight: torch.Tensor) -> int:
    """Bits per non-zero value of `weight` in its smallest form: raw, or k-bit codes into one codebook
    or into one per output channel (the codebooks counted when choosing, not in the bits)."""
    width = 8 * weight.element_size()
    rows = weight.detach().reshape(weight.shape[0], -1) if weight.dim() >= 2 else weight.detach().reshape(1, -1)
    values = rows[rows != 0]
    count = values.numel()
    if count == 0:
        return 0
    if continuous_values(_as_numpy(values)):
        return width  # as the packer decides: only raw values pay off (and no sort of every value)
    overall = torch.unique(values).numel()
    ordered = rows.sort(dim=1).values
    distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(dim=1) - (rows == 0).any(dim=1).long()
    per_channel = int(distinct.max())
    choices = ((count * width, width),
               (overall * width + count * _code_bits(overall), _code_bits(overall)),
               (int(distinct.sum()) * width + count * _code_bits(per_channel), _code_bits(per_channel)))
    return min(choices)[1]


def mean_stored_bits(model: nn.Module) -> float:
    """Bits per stored non-zero Conv/Linear weight, weighted by each layer's non-zeros; QAT layers
    counted as the quantized values they compute with."""
    weights: Dict[str, torch.Tensor] = {name: weight.detach() for name, weight in prunable_weights(model)}
    for name, module, layer in quantized_modules(model):
        key = f"{name}.weight" if name else "weight"
        if key in weights and layer.weight_fn is not None and layer.switch.enabled:
            with torch.no_grad():
                weights[key] = layer.weight(module).detach()
    kept = {name: int(torch.count_nonzero(weight)) for name, weight in weights.items()}
    total = sum(kept.values())
    if total == 0:
        return 0.0
    return sum(value_bits(weights[name]) * count for name, count in kept.items() if count) / total


def _as_numpy(values: torch.Tensor):
    """The values on the CPU as numpy can hold them (bfloat16 as its bit patterns: distinct stays distinct)."""
    values = values.cpu()
    return (values.view(torch.int16) if values.dtype == torch.bfloat16 else values).numpy()


def _code_bits(distinct: int) -> int:
    return math.ceil(math.log2(distinct)) if distinct > 1 else 0
