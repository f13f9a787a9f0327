"""Zero the weakest channels of every dependency group, so thinning can then remove them."""
from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .detect import LAYER_TYPES
from .graph import build_graph, group_problem, is_depthwise, is_source, pruning_group

ZeroedSlices = Dict[str, List[int]]


def zero_weakest_filter_groups(model: nn.Module, example_inputs: Any, fraction: float) -> ZeroedSlices:
    """In every group of layers that share channels (a conv, its BatchNorm, its residual
    partners), zero the `fraction` of channels with the lowest summed L1 norm of their filters:
    the filters, their biases and their BatchNorm weight and bias, so each channel carries
    nothing. Returns {parameter name: zeroed indices along dim 0}."""
    graph = build_graph(model, example_inputs)
    names = {module: name for name, module in model.named_modules()}
    zeroed: ZeroedSlices = {}
    for group in graph.get_all_groups(root_module_types=LAYER_TYPES):
        if group_problem(graph, group, names) is None:
            _zero_weakest(graph, group, fraction, names, zeroed)
    return zeroed


def _root_scores(graph, group) -> Dict[int, float]:
    scores: Dict[int, float] = {}
    for item in group.items:
        if is_source(graph, item):
            weight = item.dep.target.module.weight.detach()
            for idx, root in zip(item.idxs, item.root_idxs):
                scores[root] = scores.get(root, 0.0) + float(weight[idx].abs().sum())
    return scores


def zero_filters_of(model: nn.Module, example_inputs: Any, layer: str, idxs: List[int]) -> ZeroedSlices:
    """Zero filters `idxs` of `layer` and everything that produces the same channels in its
    dependency group (residual partners, BatchNorm weight and bias), so that thinning can
    remove them exactly. Returns {parameter name: zeroed indices along dim 0}."""
    graph = build_graph(model, example_inputs)
    names = {module: name for name, module in model.named_modules()}
    group = pruning_group(graph, dict(model.named_modules())[layer], "out", list(idxs))
    zeroed: ZeroedSlices = {}
    _zero_roots(graph, group, set(idxs), names, zeroed)
    return zeroed


def _zero_weakest(graph, group, fraction: float, names, zeroed: ZeroedSlices) -> None:
    scores = _root_scores(graph, group)
    count = min(int(fraction * len(scores)), len(scores) - 1)
    _zero_roots(graph, group, set(sorted(scores, key=scores.get)[:max(count, 0)]), names, zeroed)


@torch.no_grad()
def _zero_roots(graph, group, weakest, names, zeroed: ZeroedSlices) -> None:
    for item in group.items:
        module = item.dep.target.module
        produces = isinstance(module, _BatchNorm) or is_depthwise(module) or is_source(graph, item)
        if not produces:
            continue
        idxs = sorted({idx for idx, root in zip(item.idxs, item.root_idxs) if root in weakest})
        for attr, param in module.named_parameters(recurse=False):
            param[idxs] = 0
            key = f"{names[module]}.{attr}" if names[module] else attr
            zeroed[key] = sorted(set(zeroed.get(key, [])) | set(idxs))
