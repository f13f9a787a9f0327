"""AMC's environment: the walk of one episode over the searched groups, the state the agent sees at
each, the bound on its action, and the model the episode's actions make.

The state of group t (He et al. 2018, section 3.2): t, the kind of its leader (conv 0, linear 1),
its input and output channels, kernel size, stride, its share of the dense MACs (its own
layers'), the MACs the groups before it removed, the MACs of the groups after it, and the
previous action. The first seven are scaled to [0, 1] over the episode's groups (min-max; a
feature equal everywhere is 0); the MACs are fractions of the dense model's; an action is a
fraction already.

The bound (AMC's resource-constrained action space): group t keeps at most what still lets the
target be met with every later group at the fewest channels `min_keep` allows. auto_amc_cost
gives the cost of any kept counts (exact for macs and params), so the bound is the largest count
that fits, found by bisection (the cost grows with each group's count): simpler than AMC's
closed form, which assumes a chain of layers, and right for residual groups too. Latency has no
cost model: its actions are only clipped to [min_keep, 1], and the measured latency of the
episode's model decides whether it met the target.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn

from ..core.errors import UserError
from .auto_amc_cost import KINDS, ChannelCosts
from .auto_config import Target
from .auto_prune import output_channels, remove_weakest
from .auto_space import FilterGroup

STATE_SIZE = 10


class AmcEnvironment:
    def __init__(self, model: nn.Module, groups: Sequence[FilterGroup], example_inputs: Any, target: Target,
                 min_keep: float, left_out: Optional[Dict[str, str]] = None):
        """`groups`: every group of the search space; those in `left_out` (leader -> why) are not searched."""
        left_out = dict(left_out or {})
        self.model, self.all_groups, self.example, self.target = model, list(groups), example_inputs, target
        self.costs = ChannelCosts(model, [g for g in groups if g.leader not in left_out], example_inputs)
        self.left_out = {**left_out, **self.costs.left_out}
        self.groups: List[FilterGroup] = self.costs.groups
        if not self.groups:
            reasons = "; ".join(f"{leader}: {why}" for leader, why in self.left_out.items())
            raise UserError(f"no filter group is left for AMC to search ({reasons})")
        self.min_counts = [max(1, math.ceil(min_keep * g.channels - 1e-9)) for g in self.groups]
        self._budget = target.ratio * self.costs.dense[target.kind] if target.kind in KINDS else None
        self._own_macs = [sum(self.costs.layer_macs.get(layer, 0) for layer in g.members) for g in self.groups]
        self._static = _scaled([_static_features(model, g, t, own / self.costs.dense["macs"])
                                for t, (g, own) in enumerate(zip(self.groups, self._own_macs))])

    @property
    def layers(self) -> int:
        return len(self.groups)

    def state(self, t: int, kept: Sequence[int], previous: float) -> torch.Tensor:
        """What the agent sees at group t, `kept`: the counts of the groups before it."""
        dense = self.costs.dense["macs"]
        now = self.costs.cost("macs", list(kept) + self.costs.full[len(kept):])
        rest = sum(self._own_macs[t + 1:])
        return torch.tensor(self._static[t] + [(dense - now) / dense, rest / dense, previous], dtype=torch.float32)

    def keep(self, t: int, fraction: float, kept: Sequence[int]) -> int:
        """The channels group t keeps for the action `fraction`, within [min_keep, 1] and the bound."""
        channels = self.groups[t].channels
        count = min(channels, max(self.min_counts[t], round(fraction * channels)))
        if self._budget is None or self._fits(t, count, kept):
            return count
        low, high = self.min_counts[t], count  # low fits (else nothing does: the target is out of reach)
        if not self._fits(t, low, kept):
            return low
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if self._fits(t, middle, kept) else (low, middle)
        return low

    def _fits(self, t: int, count: int, kept: Sequence[int]) -> bool:
        counts = list(kept[:t]) + [count] + self.min_counts[t + 1:]
        return self.costs.cost(self.target.kind, counts) <= self._budget

    def prune(self, kept: Sequence[int]) -> nn.Module:
        """A copy of the model with group i thinned to kept[i] output channels, in model order."""
        model = copy.deepcopy(self.model).eval()
        for group, count in zip(self.groups, kept):
            if count < group.channels:
                remove_weakest(model, self.example, group, group.channels - count)
        return model

    def channels(self, model: nn.Module) -> Dict[str, int]:
        """Output channels of every group of the search space in `model` (as Round.channels holds them)."""
        return {group.leader: output_channels(model, group) for group in self.all_groups}


def _static_features(model: nn.Module, group: FilterGroup, index: int, macs_share: float) -> List[float]:
    leader = dict(model.named_modules())[group.leader]
    if isinstance(leader, nn.Conv2d):
        return [index, 0.0, leader.in_channels, group.channels, leader.kernel_size[0], leader.stride[0], macs_share]
    return [index, 1.0, leader.in_features, group.channels, 1.0, 1.0, macs_share]


def _scaled(rows: List[List[float]]) -> List[List[float]]:
    """Each column min-max scaled to [0, 1] over the rows (a constant column: 0)."""
    columns = list(zip(*rows))
    low, high = [min(c) for c in columns], [max(c) for c in columns]
    return [[(value - lo) / (hi - lo) if hi > lo else 0.0 for value, lo, hi in zip(row, low, high)] for row in rows]
