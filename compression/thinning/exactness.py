"""The rule that keeps the thinned model's outputs equal to the masked model's.

A channel is removed only if it carries nothing, exactly, in eval and in training mode:
either every layer that produces it outputs constant zero, or every layer that reads it
has zero weights for it.

- Conv/Linear producing it: weight slice zero and bias entry zero (or no bias), or the
  BatchNorm right after it has weight and bias zero for the channel (its output is then
  zero whatever its input, so a conv bias left behind does not matter).
- Depthwise conv on the way: its input channel is zero, so only its bias must be zero.
- BatchNorm on the way: its input is zero, so its output is `beta - gamma * mean / std`
  in eval mode and `beta` in training mode (batch statistics of a zero channel are zero);
  both are zero when beta == 0 and (gamma == 0 or running_mean == 0). A zeroed filter
  followed by a BatchNorm whose beta is not zero outputs a non-zero constant, which the
  next layer still reads (and which padding makes position-dependent, so it cannot be
  folded into a bias exactly): such filters are kept.
- Activations, pooling, adds and concatenations map zero to zero (ReLU, ReLU6, SiLU,
  Hardswish, max/avg pooling); Torch-Pruning couples everything else that shares the
  channel into the same group, and every layer in the group must satisfy the rule.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Set

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .detect import LAYER_TYPES
from .graph import is_consumer, is_depthwise, is_source


def _zero(tensor: torch.Tensor) -> bool:
    return not bool(tensor.detach().ne(0).any())


def _bias_zero(module: nn.Module, idx: int) -> bool:
    return module.bias is None or _zero(module.bias[idx])


def filter_outputs_zero(module: nn.Module, idx: int) -> bool:
    return _zero(module.weight[idx]) and _bias_zero(module, idx)


def input_unused(module: nn.Module, idx: int) -> bool:
    return _zero(module.weight[:, idx])


def batchnorm_outputs_zero(module: _BatchNorm, idx: int) -> bool:
    """True when a zero input channel stays zero through this BatchNorm."""
    mean_zero = module.running_mean is None or _zero(module.running_mean[idx])
    if not module.affine:
        return mean_zero
    return _zero(module.bias[idx]) and (_zero(module.weight[idx]) or mean_zero)


def batchnorm_silences(module: _BatchNorm, idx: int) -> bool:
    """True when this BatchNorm outputs zero for the channel whatever its input."""
    return module.affine and _zero(module.weight[idx]) and _zero(module.bias[idx])


def following_batchnorm(graph, module: nn.Module):
    """The BatchNorm that alone reads this layer's output, if there is one."""
    node = graph.module2node.get(module)
    outputs = node.outputs if node is not None else []
    if len(outputs) == 1 and isinstance(outputs[0].module, _BatchNorm):
        return outputs[0].module
    return None


def source_outputs_zero(graph, module: nn.Module, idx: int) -> bool:
    if filter_outputs_zero(module, idx):
        return True
    batchnorm = following_batchnorm(graph, module)
    return batchnorm is not None and batchnorm_silences(batchnorm, idx)


def removable_roots(graph, group) -> Set[int]:
    """Root indices of the group whose channel carries nothing anywhere in the group."""
    produces_zero = defaultdict(lambda: True)
    unused = defaultdict(lambda: True)
    roots: Set[int] = set()
    for item in group.items:
        module = item.dep.target.module
        for idx, root in zip(item.idxs, item.root_idxs):
            if root is None:
                continue
            roots.add(root)
            if isinstance(module, _BatchNorm):
                produces_zero[root] &= batchnorm_outputs_zero(module, idx)
            elif is_depthwise(module):
                produces_zero[root] &= _bias_zero(module, idx)
            elif is_source(graph, item):
                produces_zero[root] &= source_outputs_zero(graph, module, idx)
            elif is_consumer(graph, item):
                unused[root] &= input_unused(module, idx)
            elif isinstance(module, LAYER_TYPES):  # an unexpected role: be safe
                produces_zero[root] = unused[root] = False
    return {root for root in roots if produces_zero[root] or unused[root]}
