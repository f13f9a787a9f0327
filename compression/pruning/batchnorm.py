"""Which BatchNorm follows a convolution (or a Linear layer), for masking, ranking and folding filters.

The BatchNorm must alone read the layer's output, and read nothing else: a pre-activation block's
BatchNorm reads a residual sum, and a DenseNet layer's reads a concatenation, so neither is the
layer's own even when it is registered right after it with as many channels. That is read from the
model's torch.fx graph; a model torch.fx cannot trace (control flow on tensor values) falls back to
registration order: the first BatchNorm registered after the layer, before any other Conv/Linear.
"""
from __future__ import annotations

import warnings
import weakref
from typing import Dict, Optional, Tuple

import torch
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

_LAYERS = (nn.Conv2d, nn.Linear)
_BATCHNORMS = {nn.Conv2d: (nn.BatchNorm2d,), nn.Linear: (nn.BatchNorm1d,)}
_CACHE: "weakref.WeakKeyDictionary[nn.Module, Tuple[tuple, Optional[Dict[str, str]]]]" = weakref.WeakKeyDictionary()


def following_batchnorm(model: nn.Module, conv_name: str) -> Optional[Tuple[str, _BatchNorm]]:
    """(name, module) of the BatchNorm that alone reads `conv_name`'s output, one feature per filter
    (a BatchNorm2d after a Conv2d, a BatchNorm1d after a Linear layer), or None."""
    modules = dict(model.named_modules())
    layer = modules.get(conv_name)
    if not isinstance(layer, _LAYERS):
        return None
    pairs = _traced_pairs(model)
    name = pairs.get(conv_name) if pairs is not None else _registered_after(model, conv_name)
    batchnorm = modules.get(name) if name is not None else None
    kinds = next(kinds for cls, kinds in _BATCHNORMS.items() if isinstance(layer, cls))
    features = layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features
    if isinstance(batchnorm, kinds) and batchnorm.num_features == features:
        return name, batchnorm
    return None


def _registered_after(model: nn.Module, conv_name: str) -> Optional[str]:
    """Registration order matches the forward order in torchvision's CNNs and the built-in models."""
    names = [name for name, _ in model.named_modules()]
    for name, module in list(model.named_modules())[names.index(conv_name) + 1:]:
        if isinstance(module, _BatchNorm):
            return name
        if isinstance(module, _LAYERS):
            return None
    return None


class _LayerTracer(fx.Tracer):
    """Conv, Linear and BatchNorm subclasses (timm's BatchNormAct2d) stay one call each."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, (*_LAYERS, _BatchNorm)) or super().is_leaf_module(module, qualified_name)


def _traced_pairs(model: nn.Module) -> Optional[Dict[str, str]]:
    """{layer: BatchNorm} from the fx graph, None when the model cannot be traced; kept per model until
    one of its modules is replaced (thinning edits modules in place, folding replaces them)."""
    signature = tuple((name, id(module)) for name, module in model.named_modules())
    cached = _CACHE.get(model)
    if cached is not None and cached[0] == signature:
        return cached[1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = _LayerTracer().trace(model)
        pairs = _pairs(graph)
    except Exception:  # any failure to trace means: no graph, use registration order
        pairs = None
    _CACHE[model] = (signature, pairs)
    return pairs


def _pairs(graph: fx.Graph) -> Dict[str, str]:
    calls: Dict[str, list] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls.setdefault(node.target, []).append(node)
    pairs = {}
    for layer, nodes in calls.items():
        users = {user for node in nodes for user in node.users}
        targets = {user.target for user in users if user.op == "call_module"}
        if len(targets) != 1 or any(user.op != "call_module" or len(node.users) != 1
                                    for node in nodes for user in node.users):
            continue
        target = targets.pop()
        if all(call.args and call.args[0] in nodes for call in calls[target]):
            pairs[layer] = target
    return pairs


def folded_weight(model: nn.Module, weight_name: str, weight: torch.Tensor) -> torch.Tensor:
    """weight * gamma / sqrt(running_var + eps) per filter, or the weight itself without a BatchNorm."""
    found = following_batchnorm(model, weight_name.rsplit(".", 1)[0])
    if found is None or weight.dim() != 4:
        return weight
    bn = found[1]
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return weight.detach() * scale.view(-1, 1, 1, 1)
