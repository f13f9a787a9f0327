"""Fold each Conv2d's BatchNorm into the convolution's weights and a bias, in place, mid-training.

torch's `fuse_conv_bn_weights` does the arithmetic; what is written here is what a running training needs
around it: the same weight Parameter (masks, hooks and the optimizer keep holding it), the new bias trained
beside it, the BatchNorm's parameters out of the optimizer, its masks dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from ..factorization.apply import move_hooks
from ..factorization.record import replace_module
from ..factorization.selection import matches
from ..thinning.exactness import following_batchnorm
from ..thinning.graph import build_graph
from .record import record_fold


@dataclass
class FoldPlan:
    """`layers`: {"layer": conv, "batchnorm": its BatchNorm} of each fold, in order; `skipped`: the Conv2d
    layers left as they are, each with why; `notes`: masks dropped with their BatchNorms."""

    layers: List[Dict[str, str]] = field(default_factory=list)
    skipped: List[Dict[str, str]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def foldable_pairs(model: nn.Module, example_inputs: Any,
                   patterns: Optional[Sequence[str]] = None) -> Tuple[Dict[str, str], List[Dict[str, str]]]:
    """({conv: BatchNorm} to fold, skipped) for the Conv2d layers `patterns` select (default: all).

    A pair is folded only where the traced graph shows the BatchNorm alone reads the convolution's output
    (so that the folded layer computes what the pair did) and the BatchNorm has running statistics.
    """
    names = {id(module): name for name, module in model.named_modules()}
    convs = [(name, module) for name, module in model.named_modules() if type(module) is nn.Conv2d
             and (patterns is None or any(matches(pattern, name) for pattern in patterns))]
    if not convs:
        return {}, []
    graph = build_graph(model, example_inputs)
    pairs, skipped = {}, []
    for name, conv in convs:
        bn = following_batchnorm(graph, conv)
        reason = _not_foldable(conv, bn)
        if reason:
            skipped.append({"layer": name, "reason": reason})
        else:
            pairs[name] = names[id(bn)]
    return pairs, skipped


def _not_foldable(conv: nn.Conv2d, bn: Optional[nn.Module]) -> str:
    if bn is None:
        return "no BatchNorm alone reads its output"
    if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None:
        return "its BatchNorm keeps no running statistics"
    if bn.num_features != conv.out_channels:
        return "its BatchNorm has another number of channels"
    if hasattr(conv, "_qat"):
        return "a QAT quantizer fake-quantizes it: fold before quantizing"
    return ""


@torch.no_grad()
def fold_batchnorms(model: nn.Module, example_inputs: Any, patterns: Optional[Sequence[str]] = None,
                    optimizer: Optional[torch.optim.Optimizer] = None, masks: Any = None) -> FoldPlan:
    """Fold the BatchNorm of each Conv2d `patterns` select (default: every one that has one) into it, in place.

    The model computes in eval mode what it computed before (to float rounding); in training mode the
    folded layers no longer normalize by batch statistics. `optimizer` trains each new bias with its
    convolution's weight (their state starts afresh: the weight's scale changed) and no longer the
    BatchNorms' parameters; masks of the BatchNorms' parameters (`masks`, a MaskStore) are dropped.
    Fold before sharing or quantizing the weights: folding rescales them (a schedule is checked for it).
    """
    pairs, skipped = foldable_pairs(model, example_inputs, patterns)
    plan = FoldPlan(skipped=skipped)
    for conv_name, bn_name in pairs.items():
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        new_bias = _fold_one(conv, bn)
        identity = nn.Identity().train(bn.training)
        move_hooks(bn, identity)
        replace_module(model, bn_name, identity)
        if optimizer is not None:
            _retrain(optimizer, conv, new_bias, [p for p in bn.parameters()])
        record_fold(model, conv_name, bn_name)
        plan.layers.append({"layer": conv_name, "batchnorm": bn_name})
    if masks is not None and plan.layers:
        before = set(masks.masks)
        masks.refresh_shapes()
        plan.notes.extend(f"mask of {name} dropped: its BatchNorm is folded" for name in sorted(before - set(masks.masks)))
    return plan


def _fold_one(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> Optional[nn.Parameter]:
    """Fold in place; returns the convolution's new bias Parameter (None when it had one already)."""
    weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                        bn.weight, bn.bias)
    conv.weight.copy_(weight)
    if conv.bias is not None:
        conv.bias.copy_(bias)
        return None
    conv.bias = nn.Parameter(bias.detach().clone(), requires_grad=conv.weight.requires_grad)
    return conv.bias


def _retrain(optimizer: torch.optim.Optimizer, conv: nn.Conv2d, new_bias: Optional[nn.Parameter],
             gone: List[nn.Parameter]) -> None:
    gone_ids = {id(p) for p in gone}
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if id(p) not in gone_ids]
        if new_bias is not None and any(p is conv.weight for p in params):
            params.append(new_bias)
        group["params"] = params
    for param in [*gone, conv.weight, conv.bias]:
        optimizer.state.pop(param, None)
