"""One step of the search: remove the weakest filters of a group from a model, for real."""
from __future__ import annotations

from typing import Any, List

import torch
from torch import nn

from ..pruning.structures import structure_scores
from ..thinning import remove_structures, zero_filters_of
from .auto_space import FilterGroup


def output_channels(model: nn.Module, group: FilterGroup) -> int:
    return dict(model.named_modules())[group.leader].weight.shape[0]


def weakest_filters(model: nn.Module, group: FilterGroup, count: int) -> List[int]:
    """The `count` filters of the group's leader with the lowest mean absolute weight, ranked as
    L1RankedStructureParameterPruner ranks them (stable order, so ties fall the same way)."""
    weight = dict(model.named_modules())[group.leader].weight
    order = torch.argsort(structure_scores(weight, "Filters"), stable=True)
    return sorted(order[:count].tolist())


def remove_weakest(model: nn.Module, example_inputs: Any, group: FilterGroup, count: int) -> int:
    """Zero the group's `count` weakest channels everywhere they are produced, then thin them away.
    Returns how many channels went (fewer than `count` only if thinning had to keep some)."""
    before = output_channels(model, group)
    zero_filters_of(model, example_inputs, group.leader, weakest_filters(model, group, count))
    remove_structures(model, example_inputs, "filters", layers=[group.leader])
    return before - output_channels(model, group)
