"""What factorization did to a model, as plain data a weights-only checkpoint holds, and its replay.

Each step is `{"layer": name, "method": ..., "ranks": [...], "thinning_before": n}`, in the order the
layers were factorized; `thinning_before` is how many thinning operations the model had then, so a
rebuild thins and factorizes in the order training did.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List

from torch import nn

from ..core.errors import UserError
from .configs import METHODS
from .decompose import full_ranks
from .layers import factorized_structure
from .selection import factorizable_layers

RECORD_ATTRIBUTE = "_factorization"


def recorded_factorization(model: nn.Module) -> List[Dict[str, Any]]:
    """Every layer factorized in this model so far, in order (empty if none)."""
    return copy.deepcopy(model.__dict__.get(RECORD_ATTRIBUTE, []))


def record_step(model: nn.Module, step: Dict[str, Any]) -> None:
    model.__dict__.setdefault(RECORD_ATTRIBUTE, []).append(copy.deepcopy(step))


def replace_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, module)


def replay_structure(model: nn.Module, thinning_ops: List[Dict[str, Any]], steps: Any,
                     thin: Callable[[List[Dict[str, Any]]], Any]) -> None:
    """Thin (`thin(ops)`) and factorize a freshly built model as recorded, in the recorded order; the
    factorized layers' weights are left for load_state_dict."""
    steps = validated_steps(steps)
    if not steps or not isinstance(thinning_ops, (list, tuple)):  # the thinning plan is validated by `thin`
        if thinning_ops:
            thin(thinning_ops)
        thinning_ops = []
    done = 0
    for number, step in enumerate(steps):
        before = step["thinning_before"]
        if before < done or before > len(thinning_ops):
            raise UserError(f"{_where(number, step)} does not fit the checkpoint: it follows {before} thinning "
                            f"operations, but the checkpoint records {len(thinning_ops)}"
                            + (f" and the step before follows {done}" if before < done else ""))
        if before > done:
            thin(thinning_ops[done:before])
            done = before
        replay_step(model, number, step)
    if done < len(thinning_ops):
        thin(thinning_ops[done:])


def replay_step(model: nn.Module, number: int, step: Dict[str, Any]) -> None:
    layers = dict(factorizable_layers(model))
    layer = layers.get(step["layer"])
    where = _where(number, step)
    if layer is None:
        raise UserError(f"{where} does not fit the model: it has no Conv2d or Linear layer by that name")
    methods = _methods(layer)
    if step["method"] not in methods:
        raise UserError(f"{where} does not fit the model: its {type(layer).__name__} '{step['layer']}' takes "
                        f"{' or '.join(methods) or 'no factorization (it is grouped)'}")
    largest = full_ranks(layer, step["method"])
    if len(step["ranks"]) != len(largest) or any(rank > most for rank, most in zip(step["ranks"], largest)):
        raise UserError(f"{where} does not fit the model: layer '{step['layer']}' takes ranks up to {largest}")
    replace_module(model, step["layer"], factorized_structure(layer, step["method"], step["ranks"]))
    record_step(model, step)


def _methods(layer: nn.Module) -> List[str]:
    if isinstance(layer, nn.Linear):
        return ["svd"]
    if layer.groups > 1:
        return []
    return ["svd"] if tuple(layer.kernel_size) == (1, 1) else list(METHODS)


def _where(number: int, step: Dict[str, Any]) -> str:
    return f"factorization step {number} ({step['method']} of '{step['layer']}' at ranks {step['ranks']})"


def validated_steps(steps: Any) -> List[Dict[str, Any]]:
    """A copy of `steps` as plain dicts, or UserError naming what is malformed."""
    if not isinstance(steps, (list, tuple)):
        raise UserError(f"a factorization record must be a list of steps, got {type(steps).__name__}")
    return [_validated_step(number, step) for number, step in enumerate(steps)]


def _is_count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _validated_step(number: int, step: Any) -> Dict[str, Any]:
    if (not isinstance(step, dict) or not isinstance(step.get("layer"), str) or step.get("method") not in METHODS
            or not isinstance(step.get("ranks"), (list, tuple)) or len(step["ranks"]) not in (1, 2)
            or not all(_is_count(rank, 1) for rank in step["ranks"])
            or not _is_count(step.get("thinning_before", 0), 0)):
        raise UserError(f"factorization step {number} is malformed: {step!r} (expected {{'layer': name, "
                        f"'method': {' | '.join(METHODS)}, 'ranks': [int, ...], 'thinning_before': int}})")
    return {"layer": step["layer"], "method": step["method"], "ranks": [int(rank) for rank in step["ranks"]],
            "thinning_before": int(step.get("thinning_before", 0))}
