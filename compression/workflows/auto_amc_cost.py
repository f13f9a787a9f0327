"""AMC's cost model: MACs, parameters and weights-file bytes for any kept channels per group, without pruning.

Thinning a group's channels shortens some dimensions of some tensors (the group's own weights and
BatchNorm, the next layers' inputs, a Linear layer's flattened inputs by a whole feature map) by a
fixed amount per channel. Removing one channel of each group from a copy, once at the start,
measures those amounts; every tensor's size for any kept counts follows, and from it
- parameters: the sum of the parameters' sizes (exact);
- MACs: `count_macs` of a Conv/Linear layer scales with its weight's size (its kernel and output
  pixels stay), other layers' MACs stay as they are (exact);
- bytes: the dense weights file's overhead plus every tensor's bytes rounded up to 64, the
  alignment of torch.save's records (within 64 bytes a tensor, mostly above: the padding
  depends on where each record falls; the search measures the real file of each episode's model).
A group that thinning cannot take one channel from is left out, with the reason.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Set, Tuple

from torch import nn

from ..core.errors import UserError
from ..report import state_dict_bytes
from ..summary import count_macs
from ..thinning.detect import LAYER_TYPES
from .auto_prune import remove_weakest
from .auto_space import FilterGroup

KINDS = ("macs", "params", "size")  # latency has no model: only a measurement tells it
_ALIGN = 64  # torch.save pads its records' data to 64-byte boundaries


@dataclass(frozen=True)
class _Tensor:
    dims: Tuple[int, ...]
    shrink: Tuple[Tuple[Tuple[int, int], ...], ...]  # per dimension: (group index, length lost per channel removed)
    item_bytes: int
    parameter: bool
    macs_per_item: float  # the MACs of the layer whose weight this is, per weight item (0: none)

    def items(self, removed: Sequence[int]) -> int:
        return math.prod(size - sum(per * removed[g] for g, per in lost) for size, lost in zip(self.dims, self.shrink))


class ChannelCosts:
    """`cost(kind, kept)`: the model's cost with `kept[i]` output channels in `groups[i]` (the groups that
    could be probed; `left_out` says why the others could not)."""

    def __init__(self, model: nn.Module, groups: Sequence[FilterGroup], example_inputs: Any):
        input_shape = tuple(example_inputs.shape[1:])
        self.groups: List[FilterGroup] = []
        self.left_out: Dict[str, str] = {}
        probed = []
        for group in groups:
            outcome = _probe(model, group, example_inputs)
            if isinstance(outcome, str):
                self.left_out[group.leader] = outcome
            else:
                self.groups.append(group)
                probed.append(outcome)
        self.layer_macs = count_macs(model, input_shape)
        self._tensors, modelled = _tensors(model, probed, self.layer_macs)
        self._constant_macs = float(sum(macs for layer, macs in self.layer_macs.items() if layer not in modelled))
        self._bytes_overhead = state_dict_bytes(model) - self._bytes(self.full)
        self.dense = {kind: self.cost(kind, self.full) for kind in KINDS}

    @property
    def full(self) -> List[int]:
        return [group.channels for group in self.groups]

    def cost(self, kind: str, kept: Sequence[int]) -> float:
        if kind == "size":
            return self._bytes_overhead + self._bytes(kept)
        removed = [group.channels - count for group, count in zip(self.groups, kept)]
        if kind == "params":
            return float(sum(t.items(removed) for t in self._tensors if t.parameter))
        return self._constant_macs + sum(t.macs_per_item * t.items(removed) for t in self._tensors if t.macs_per_item)

    def _bytes(self, kept: Sequence[int]) -> int:
        removed = [group.channels - count for group, count in zip(self.groups, kept)]
        return sum(-(-t.items(removed) * t.item_bytes // _ALIGN) * _ALIGN for t in self._tensors)


def _probe(model: nn.Module, group: FilterGroup, example_inputs: Any) -> Any:
    """The tensors' shapes with one channel of `group` thinned away, or why that cannot be done."""
    if group.channels < 2:
        return "a single channel: none can be removed"
    thinned = copy.deepcopy(model)
    try:
        removed = remove_weakest(thinned, example_inputs, group, 1)
    except UserError as err:
        return str(err)
    if removed != 1:
        return "thinning kept the zeroed filters"
    return {name: tuple(tensor.shape) for name, tensor in thinned.state_dict().items()}


def _tensors(model: nn.Module, probed: List[Dict[str, Tuple[int, ...]]],
             layer_macs: Dict[str, int]) -> Tuple[List[_Tensor], Set[str]]:
    """Every state_dict tensor as a _Tensor, and the layers whose MACs their weights carry."""
    layers = {name for name, module in model.named_modules() if isinstance(module, LAYER_TYPES)}
    parameters = {name for name, _ in model.named_parameters()}
    tensors, modelled = [], set()
    for name, tensor in model.state_dict().items():
        dims = tuple(tensor.shape)
        shrink = tuple(tuple((g, dims[d] - shapes[name][d]) for g, shapes in enumerate(probed)
                             if name in shapes and dims[d] != shapes[name][d]) for d in range(len(dims)))
        owner, _, leaf = name.rpartition(".")
        macs = layer_macs.get(owner, 0) if leaf == "weight" and owner in layers else 0
        if macs:
            modelled.add(owner)
        tensors.append(_Tensor(dims, shrink, tensor.element_size(), name in parameters,
                               macs / max(tensor.numel(), 1)))
    return tensors, modelled
