"""The search space of `auto`: filter groups that thinning removes and a Distiller schedule reproduces.

A group is the set of layers whose outputs are the same channels (a conv alone, or residual
partners that are added together), as Torch-Pruning's dependency graph couples them.
A group is searched when:
- thinning can take it (`group_problem` is None: not the model's output, no grouped conv ...);
- no depthwise conv passes it on, and every layer producing it is either
  - a Conv2d with its own BatchNorm2d right after it (`structure` Filters): then
    `L1RankedStructureParameterPruner` (with `group_dependency: Leader` for partners) masks
    exactly what the search removed, filters and BatchNorm, and the thinning extension removes
    it all (see thinning/exactness.py); or
  - a Linear layer with no BatchNorm after it (`structure` Rows): the pruner's `prune_bias`
    masks the rows' biases too (Distiller's pruners leave them, and a zero row with a bias
    still outputs a constant the next layer reads), so thinning removes the rows.
Convolutions without a BatchNorm are left out (`prune_bias` would serve them too; not searched yet).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..core.errors import UserError
from ..pruning.batchnorm import following_batchnorm as registered_batchnorm
from ..thinning.detect import LAYER_TYPES
from ..thinning.exactness import following_batchnorm as graph_batchnorm
from ..thinning.graph import build_graph, group_problem, is_depthwise, is_source


@dataclass(frozen=True)
class FilterGroup:
    """Layers sharing output channels (convolutions, or Linear layers); `layers[0]` (the first in the
    model) leads the ranking."""

    layers: Tuple[str, ...]
    channels: int  # output channels in the model the search starts from
    structure: str = "Filters"  # the pruner's group_type: Filters (Conv2d) or Rows (Linear)

    @property
    def leader(self) -> str:
        return self.layers[0]


@dataclass(frozen=True)
class SearchSpace:
    groups: Tuple[FilterGroup, ...]
    left_out: Dict[str, str]  # leader -> why the group is not searched (held out included)


def search_space(model: nn.Module, example_inputs: Any, hold_out: Sequence[str] = ()) -> SearchSpace:
    """The groups the search may shrink; UserError for a hold-out pattern that matches no layer."""
    patterns = _compiled(hold_out)
    layers = [name for name, module in model.named_modules() if isinstance(module, LAYER_TYPES)]
    _check_patterns_match(patterns, layers)
    groups, left_out = [], {}
    for group, reason in _filter_groups(model, example_inputs):
        held = [layer for layer in group.layers if any(p.fullmatch(layer) for p in patterns)]
        if reason is None and held:
            reason = f"held out ({', '.join(held)} matches --hold-out)"
        if reason is None:
            groups.append(group)
        else:
            left_out[group.leader] = reason
    return SearchSpace(tuple(groups), left_out)


def _compiled(patterns: Sequence[str]) -> List[re.Pattern]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise UserError(f"--hold-out '{pattern}': not a regular expression ({err})") from None
    return compiled


def _check_patterns_match(patterns: List[re.Pattern], layers: List[str]) -> None:
    for pattern in patterns:
        if not any(pattern.fullmatch(layer) for layer in layers):
            shown = ", ".join(layers[:20]) + (", ..." if len(layers) > 20 else "")
            raise UserError(f"--hold-out '{pattern.pattern}' matches no Conv/Linear layer (it must match a whole "
                            f"name; layers: {shown})")


def _filter_groups(model: nn.Module, example_inputs: Any) -> List[Tuple[FilterGroup, Any]]:
    """Every dependency group rooted at a Conv/Linear layer, in model order, with why it cannot be
    searched (None when it can)."""
    graph = build_graph(model, example_inputs)
    names = {module: name for name, module in model.named_modules()}
    order = {name: index for index, name in enumerate(names.values())}
    found: Dict[Tuple[str, ...], Any] = {}
    for group in graph.get_all_groups(root_module_types=LAYER_TYPES):
        sources = [item.dep.target.module for item in group.items if is_source(graph, item)]
        layers = tuple(sorted({names[m] for m in sources}, key=order.get))
        if not layers or layers in found:
            continue
        channels = graph.get_pruner_of_module(sources[0]).get_out_channels(sources[0])
        reason = group_problem(graph, group, names) or _not_reproducible(graph, group, model, names)
        structure = "Rows" if isinstance(sources[0], nn.Linear) else "Filters"
        found[layers] = (FilterGroup(layers, int(channels), structure), reason)
    return sorted(found.values(), key=lambda pair: order[pair[0].leader])


def _not_reproducible(graph, group, model: nn.Module, names) -> Any:
    kinds = set()
    for item in group.items:
        module = item.dep.target.module
        if is_depthwise(module):
            return f"depthwise convolution '{names.get(module, '?')}' passes these channels on"
        if not is_source(graph, item):
            continue
        problem = _source_problem(graph, module, names[module], model)
        if problem:
            return problem
        kinds.add(type(module).__name__)
    if len(kinds) > 1:
        return f"Conv2d and Linear layers produce these channels together ({', '.join(sorted(kinds))})"
    if kinds == {"Linear"} and any(isinstance(item.dep.target.module, _BatchNorm) for item in group.items):
        return "a BatchNorm reads these Linear outputs (only Linear rows with no BatchNorm after them are searched)"
    return None


def _source_problem(graph, module: nn.Module, name: str, model: nn.Module) -> Any:
    """Why a schedule could not mask exactly what the search removes from this layer (None: it can)."""
    if isinstance(module, nn.Linear):
        return None
    if not isinstance(module, nn.Conv2d):
        return (f"'{name}' is a {type(module).__name__}: only Conv2d filters with a BatchNorm and Linear rows are "
                "searched")
    found = registered_batchnorm(model, name)
    if found is None or found[1] is not graph_batchnorm(graph, module) or found[1].weight is None:
        return f"'{name}' has no BatchNorm2d of its own right after it"
    return None
