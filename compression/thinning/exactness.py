"""The rule that keeps the thinned model's outputs equal to the masked model's.

A channel is removed only if it carries nothing, exactly, in eval and in training mode: no
non-zero value put on it reaches a layer that reads it (with non-zero weights) or the model's
output. Values are followed through the dependency graph from every layer that puts one there:

- Conv/Linear producing it: its weight slice or bias entry is not zero.
- Depthwise conv on the way: its bias entry is not zero. A depthwise filter that is all zero
  stops what comes before it (its output is its bias alone, whatever its input).
- BatchNorm on the way: a zero input comes out as `beta - gamma * mean / std` in eval mode and
  `beta` in training mode (batch statistics of a zero channel are zero); both are zero when
  beta == 0 and (gamma == 0 or running_mean == 0), otherwise it puts a value there (and padding
  makes it position-dependent, so it cannot be folded into a bias exactly). A BatchNorm whose
  gamma and beta are both zero stops what comes before it: its output is zero whatever its input.
  So a depthwise chain whose filter or BatchNorm is zeroed silences the channel for the layers
  after it, and what fed it (the expansion conv's filter, its BatchNorm) is dead too.
- Activations, pooling, adds and concatenations map zero to zero (ReLU, ReLU6, SiLU,
  Hardswish, max/avg pooling); Torch-Pruning couples everything that shares the channel into
  the same group, and removing the channel removes it from all of them.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Optional, Set, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .detect import LAYER_TYPES
from .graph import is_depthwise, is_out_item


@dataclass(frozen=True)
class Origin:
    """A layer that puts a non-zero value on a channel (its `idxs` there) that `reader` reads
    (None: the value reaches the model's output)."""

    layer: nn.Module
    idxs: Tuple[int, ...]
    reader: Optional[nn.Module]


# Why a channel cannot go: every origin whose value is read, in model order (empty: a layer in an unexpected role).
Leak = Tuple[Origin, ...]


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


def removable_roots(graph, group) -> Set[int]:
    """Root indices of the group whose channel carries nothing anywhere in the group."""
    return {root for root, leak in channel_leaks(graph, group).items() if leak is None}


def channel_leaks(graph, group) -> Dict[int, Optional[Leak]]:
    """For every root index of the group: None when its channel carries nothing, else why it does."""
    outs: Dict[int, Dict] = defaultdict(lambda: defaultdict(list))
    ins: Dict[int, Dict] = defaultdict(lambda: defaultdict(list))
    for item in group.items:
        table = outs if is_out_item(graph, item) else ins
        for idx, root in zip(item.idxs, item.root_idxs):
            if root is not None:
                table[root][item.dep.target].append(idx)
    order = {module: number for number, module in enumerate(graph.model.modules())}
    return {root: _ChannelWalk(outs[root], ins[root], order).leak() for root in set(outs) | set(ins)}


class _ChannelWalk:
    """One root channel: each graph node's indices for it, as an output (`outs`) and as an input (`ins`)."""

    def __init__(self, outs: Dict, ins: Dict, order: Dict[nn.Module, int]):
        self.outs, self.ins, self.order = outs, ins, order

    def leak(self) -> Optional[Leak]:
        if any(isinstance(node.module, LAYER_TYPES) and is_depthwise(node.module) and node not in self.outs
               for node in self.ins):  # an unexpected role: be safe
            return ()
        origins = sorted(filter(self._puts_value, self.outs), key=lambda node: self.order.get(node.module, 0))
        found = [(node, self._first_reader(node)) for node in origins]
        leaks = tuple(Origin(node.module, tuple(self.outs[node]), reader) for node, (read, reader) in found if read)
        return leaks or None

    def _puts_value(self, node) -> bool:
        module, idxs = node.module, self.outs[node]
        if isinstance(module, _BatchNorm):
            return not all(batchnorm_outputs_zero(module, i) for i in idxs)
        if isinstance(module, LAYER_TYPES) and is_depthwise(module):
            return not all(_bias_zero(module, i) for i in idxs)
        if isinstance(module, LAYER_TYPES):
            return not all(filter_outputs_zero(module, i) for i in idxs)
        return False

    def _stops(self, node) -> bool:
        """Its output on this channel does not depend on its input."""
        module, idxs = node.module, self.outs.get(node, [])
        if isinstance(module, _BatchNorm):
            return bool(idxs) and all(batchnorm_silences(module, i) for i in idxs)
        return is_depthwise(module) and bool(idxs) and all(_zero(module.weight[i]) for i in idxs)

    def _first_reader(self, origin):
        """(True, layer) for the first layer found reading the value `origin` puts there,
        (True, None) if it reaches the model's output, (False, None) if nothing reads it."""
        seen, todo = set(), list(origin.outputs)
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            module = node.module
            if isinstance(module, LAYER_TYPES) and not is_depthwise(module):
                if not all(input_unused(module, i) for i in self.ins.get(node, [])):
                    return True, module
                continue
            if self._stops(node):
                continue
            if not node.outputs:
                return True, None
            todo.extend(node.outputs)
        return False, None
