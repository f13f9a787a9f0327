"""What an own training loop needs, beside the weights, to resume a run whose layers changed shape:
the model's recorded structure changes (thinning, factorization, folded BatchNorms) and the
optimizer's parameter layout by name, so that a freshly built model and optimizer take the saved
weights and optimizer state."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn

from .core.errors import UserError
from .factorization import recorded_factorization
from .folding import recorded_folding
from .restore import restore_structure
from .thinning import recorded_plan

_RECORDS = ("thinning", "factorization", "folded_batchnorm")


def structure_records(model: nn.Module) -> Dict[str, Any]:
    """What rebuilds the model's changed layers on a fresh one, as checkpoints record it."""
    return {"thinning": recorded_plan(model), "factorization": recorded_factorization(model),
            "folded_batchnorm": recorded_folding(model)}


def structure_state(model: nn.Module, optimizer: Optional[torch.optim.Optimizer]) -> Optional[Dict[str, Any]]:
    """The structure records and, per param group, the model's name of each parameter (None for one that is
    not the model's); None while nothing changed the model's structure."""
    records = structure_records(model)
    if not any(records.values()):
        return None
    names = {id(param): name for name, param in model.named_parameters()}
    groups = [[names.get(id(param)) for param in group["params"]] for group in optimizer.param_groups] \
        if optimizer is not None else []
    return {**records, "param_groups": groups}


def restore_structure_state(model: nn.Module, optimizer: Optional[torch.optim.Optimizer], state: Dict[str, Any],
                            input_shape: Sequence[int]) -> None:
    """Change a freshly built `model` as `state` records (nothing if it is already so), then give each of
    the optimizer's param groups the recorded parameters, in the recorded order."""
    recorded = {key: state.get(key) or _empty(key) for key in _RECORDS}
    current = structure_records(model)
    previous = {id(param) for param in model.parameters()}
    if not any(current.values()):
        if recorded["thinning"] and not input_shape:
            raise UserError("the saved state records thinned layers: build the scheduler with input_shape=(C, H, W) "
                            "so that the thinning can be replayed on this model")
        restore_structure(model, recorded, input_shape)
    elif current != recorded:
        raise UserError("the model's layers were already changed, and not as the saved state records: build a "
                        "fresh model (the saved state replays its thinning, factorization and folding)")
    if optimizer is not None and state.get("param_groups"):
        _rebind(optimizer, model, state["param_groups"], previous)


def _empty(key: str):
    return {} if key == "folded_batchnorm" else []


def _rebind(optimizer: torch.optim.Optimizer, model: nn.Module, layout: List[List[Optional[str]]],
            previous: set) -> None:
    """Recorded names -> this model's parameters; entries that are not the model's keep their place in order."""
    if len(layout) != len(optimizer.param_groups):
        raise UserError(f"the saved state records {len(layout)} optimizer param groups, the optimizer has "
                        f"{len(optimizer.param_groups)}: build the optimizer as the saved run did")
    params = dict(model.named_parameters())
    live = {id(param) for param in params.values()}
    model_params = previous | live
    for group, names in zip(optimizer.param_groups, layout):
        others = [param for param in group["params"] if id(param) not in model_params]
        missing = [name for name in names if name is not None and name not in params]
        if missing or len(others) != names.count(None):
            raise UserError(f"the saved optimizer layout does not fit this model (no parameter {missing[0]!r})"
                            if missing else "the saved optimizer layout does not fit this optimizer's own "
                                            "parameters (those that are not the model's)")
        extra = iter(others)
        group["params"] = [params[name] if name is not None else next(extra) for name in names]
    for param in list(optimizer.state):
        if id(param) in previous and id(param) not in live:  # replaced by the replay: its state had the old shape
            del optimizer.state[param]
