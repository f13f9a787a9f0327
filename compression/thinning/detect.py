"""Find the filters (output channels) and channels (input channels) whose weights are all zero."""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

from ..core.errors import UserError

KINDS = ("filters", "channels")
LAYER_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UserError(f"thinning kind must be one of {', '.join(KINDS)}, got {kind!r}")


def is_grouped_conv(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.conv._ConvNd) and module.groups > 1


def zero_filters(module: nn.Module) -> List[int]:
    """Output channels whose whole weight slice is zero (Conv filters, Linear rows)."""
    weight = module.weight.detach()
    nonzero = weight.reshape(weight.shape[0], -1).ne(0).any(dim=1)
    return torch.nonzero(~nonzero).flatten().tolist()


def zero_channels(module: nn.Module) -> List[int]:
    """Input channels whose weight[:, c] is zero everywhere; grouped convs have none to offer."""
    if is_grouped_conv(module):
        return []
    weight = module.weight.detach().transpose(0, 1)
    nonzero = weight.reshape(weight.shape[0], -1).ne(0).any(dim=1)
    return torch.nonzero(~nonzero).flatten().tolist()


def find_zero_structures(model: nn.Module, kind: str) -> Dict[str, List[int]]:
    """Layer name -> indices of its all-zero filters ("filters") or input channels ("channels")."""
    check_kind(kind)
    find = zero_filters if kind == "filters" else zero_channels
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, LAYER_TYPES):
            idxs = find(module)
            if idxs:
                found[name] = idxs
    return found
