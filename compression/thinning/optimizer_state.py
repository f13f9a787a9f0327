"""Keep an optimizer working after thinning replaced (and shrank) the model's parameters."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .detect import LAYER_TYPES

# parameter name -> [(dim, removed indices)]
Cuts = Dict[str, List[Tuple[int, List[int]]]]


def group_cuts(graph, group, module_names: Dict[nn.Module, str]) -> Cuts:
    """Which indices of which dimension each parameter in the group loses."""
    cuts: Cuts = {}
    for item in group.items:
        module = item.dep.target.module
        name = module_names.get(module) if isinstance(module, nn.Module) else None
        if name is None:
            continue
        idxs = sorted(set(item.idxs))
        is_out = graph.is_out_channel_pruning_fn(item.dep.handler)
        if isinstance(module, (_BatchNorm, nn.PReLU)) or (isinstance(module, LAYER_TYPES) and is_out):
            dims = {attr: 0 for attr, p in module._parameters.items() if p is not None and p.dim() > 0}
        elif isinstance(module, LAYER_TYPES):
            dims = {"weight": 1}
        else:
            continue
        for attr, dim in dims.items():
            cuts.setdefault(_join(name, attr), []).append((dim, idxs))
    return cuts


def _join(module_name: str, attr: str) -> str:
    return f"{module_name}.{attr}" if module_name else attr


def _cut(tensor: torch.Tensor, cuts: List[Tuple[int, List[int]]]) -> torch.Tensor:
    for dim, idxs in cuts:
        removed = set(idxs)
        keep = [i for i in range(tensor.shape[dim]) if i not in removed]
        tensor = tensor.index_select(dim, torch.tensor(keep, dtype=torch.long, device=tensor.device))
    return tensor


def _moved_state(state: dict, old: torch.Tensor, new: torch.Tensor,
                 cuts: List[Tuple[int, List[int]]]) -> Optional[dict]:
    """The per-parameter state cut like the parameter was, or None if its shape cannot follow."""
    moved = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.shape == old.shape and value.dim() > 0:
            value = _cut(value, cuts)
            if value.shape != new.shape:
                return None
        moved[key] = value
    return moved


def migrate_optimizer(optimizer: torch.optim.Optimizer, old_params: Dict[str, nn.Parameter],
                      model: nn.Module, cuts: Cuts) -> None:
    """Point the optimizer at the model's new parameters and cut their state (momentum, Adam moments)."""
    new_params = dict(model.named_parameters())
    replaced = {id(old): (name, old, new_params[name]) for name, old in old_params.items()
                if name in new_params and new_params[name] is not old}
    if not replaced:
        return
    for group in optimizer.param_groups:
        group["params"] = [replaced[id(p)][2] if id(p) in replaced else p for p in group["params"]]
    for name, old, new in replaced.values():
        new.requires_grad_(old.requires_grad)
        state = optimizer.state.pop(old, None)
        if state:
            moved = _moved_state(state, old, new, cuts.get(name, []))
            # a state that cannot follow the new shape starts afresh (as for a new parameter)
            if moved is not None:
                optimizer.state[new] = moved
