"""Which BatchNorm follows a convolution, for ranking filters on BatchNorm-folded weights."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn


def following_batchnorm(model: nn.Module, conv_name: str) -> Optional[Tuple[str, nn.BatchNorm2d]]:
    """(name, module) of the first BatchNorm2d registered after `conv_name`, with one feature per filter.

    Registration order matches the forward order in torchvision's CNNs and the built-in
    models; a model that registers modules out of order simply gets no folding.
    """
    modules = list(model.named_modules())
    names = [name for name, _ in modules]
    if conv_name not in names:
        return None
    conv = dict(modules)[conv_name]
    for name, module in modules[names.index(conv_name) + 1:]:
        if isinstance(module, nn.BatchNorm2d):
            return (name, module) if module.num_features == getattr(conv, "out_channels", -1) else None
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return None
    return None


def folded_weight(model: nn.Module, weight_name: str, weight: torch.Tensor) -> torch.Tensor:
    """weight * gamma / sqrt(running_var + eps) per filter, or the weight itself without a BatchNorm."""
    found = following_batchnorm(model, weight_name.rsplit(".", 1)[0])
    if found is None or weight.dim() != 4:
        return weight
    bn = found[1]
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return weight.detach() * scale.view(-1, 1, 1, 1)
