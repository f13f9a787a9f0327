"""Keep an optimizer training a model whose layers were replaced by factorized ones."""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn


def replace_parameters(optimizer: torch.optim.Optimizer, replaced: Dict[nn.Parameter, List[nn.Parameter]]) -> None:
    """Each old parameter's place in its param group goes to its new parameters, which start with fresh
    state (momentum, Adam moments: the old state has another shape and meaning). An old parameter the
    optimizer did not train leaves its new ones out too."""
    by_id = {id(old): new for old, new in replaced.items()}
    for group in optimizer.param_groups:
        params = []
        for param in group["params"]:
            params.extend(by_id.get(id(param), [param]))
        group["params"] = params
    for old, new in replaced.items():
        optimizer.state.pop(old, None)
        for param in new:
            param.requires_grad_(old.requires_grad)
