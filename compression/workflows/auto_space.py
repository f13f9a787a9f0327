"""The search space of `auto`: filter groups that thinning removes and a Distiller schedule reproduces.

A group is the set of layers whose outputs are the same channels (a conv alone, or residual
partners that are added together), as Torch-Pruning's dependency graph couples them, with the
depthwise convolutions that pass those channels on (an inverted residual block's expansion conv
and its depthwise conv). The schedule's `L1RankedStructureParameterPruner` (with
`group_dependency: Leader` when it lists more than one weight) masks every layer of the group,
`Filters` of Conv2d or `Rows` of Linear layers, with what makes each removed channel output
exactly zero, so the thinning extension removes exactly what the search removed (see
thinning/exactness.py):
- the BatchNorm that alone reads a layer's output (pruning/batchnorm.py) is masked with it;
- a layer with a bias and no such BatchNorm needs `prune_bias` (Distiller's pruners leave biases,
  and a zero filter with a bias still outputs a constant the next layer reads).
A group is searched when thinning can take it (`group_problem` is None: not the model's output, no
grouped conv ...) and every BatchNorm on its channels is some masked layer's own: a BatchNorm that
reads a residual sum (pre-activation blocks) is no layer's own, so no pruner can mask it.
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
    passes: Tuple[str, ...] = ()  # depthwise convs that pass these channels on: their filters go too
    prune_bias: bool = False  # some layer has a bias and no BatchNorm of its own after it

    @property
    def leader(self) -> str:
        return self.layers[0]

    @property
    def members(self) -> Tuple[str, ...]:
        """Every layer whose filters (or rows) the group's pruner masks."""
        return self.layers + self.passes


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
        held = [layer for layer in group.members if any(p.fullmatch(layer) for p in patterns)]
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
        passes = tuple(sorted({names[item.dep.target.module] for item in group.items
                               if is_depthwise(item.dep.target.module)}, key=order.get))
        channels = graph.get_pruner_of_module(sources[0]).get_out_channels(sources[0])
        reason = group_problem(graph, group, names) or _not_reproducible(graph, group, model, names, layers + passes)
        structure = "Rows" if isinstance(sources[0], nn.Linear) else "Filters"
        bias = any(_bias_without_batchnorm(graph, model, name) for name in layers + passes)
        found[layers] = (FilterGroup(layers, int(channels), structure, passes, bias), reason)
    return sorted(found.values(), key=lambda pair: order[pair[0].leader])


def _not_reproducible(graph, group, model: nn.Module, names, masked: Tuple[str, ...]) -> Any:
    """Why a schedule masking the filters of `masked` could not make these channels output zero (None: it can)."""
    kinds = set()
    for item in group.items:
        module = item.dep.target.module
        if is_source(graph, item):
            if not isinstance(module, (nn.Conv2d, nn.Linear)):
                return (f"'{names[module]}' is a {type(module).__name__}: only Conv2d filters and Linear rows are "
                        "searched")
            kinds.add(type(module).__name__)
        elif isinstance(module, _BatchNorm) and not _masked_batchnorm(graph, model, module, masked):
            return (f"BatchNorm '{names[module]}' reads these channels but is no single layer's own (it reads a "
                    "sum or a concatenation, or has no weight and bias), so no pruner can mask it")
    if len(kinds) > 1:
        return f"Conv2d and Linear layers produce these channels together ({', '.join(sorted(kinds))})"
    return None


def _own_batchnorm(graph, model: nn.Module, name: str) -> Any:
    """The BatchNorm a pruner masks with layer `name`'s filters, if thinning sees it the same way."""
    found = registered_batchnorm(model, name)
    module = model.get_submodule(name)
    if found is None or found[1] is not graph_batchnorm(graph, module) or found[1].weight is None:
        return None
    return found[1]


def _masked_batchnorm(graph, model: nn.Module, batchnorm: _BatchNorm, masked: Tuple[str, ...]) -> bool:
    return any(_own_batchnorm(graph, model, name) is batchnorm for name in masked)


def _bias_without_batchnorm(graph, model: nn.Module, name: str) -> bool:
    return model.get_submodule(name).bias is not None and _own_batchnorm(graph, model, name) is None
