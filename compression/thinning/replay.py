"""Rebuild a thinned structure on a freshly built model by replaying its recorded operations."""
from __future__ import annotations

from itertools import groupby
from typing import Any, Dict, List

from torch import nn

from ..core.errors import UserError
from .detect import LAYER_TYPES
from .graph import build_graph, eval_mode, pruning_group
from .plan import record_ops, validated_ops


def apply_plan(model: nn.Module, plan_ops: List[Dict[str, Any]], example_inputs: Any) -> nn.Module:
    """Apply the same Torch-Pruning calls, in the same order, with one dependency graph per
    thinning pass (as when they were first made). Returns the model, thinned in place."""
    ops = validated_ops(plan_ops)
    modules = dict(model.named_modules())
    with eval_mode(model):
        number = 0
        for _, pass_ops in groupby(ops, key=lambda op: op.get("pass", 0)):
            graph = build_graph(model, example_inputs)
            for op in pass_ops:
                _replay(graph, modules, number, op)
                number += 1
    record_ops(model, ops)
    return model


def _replay(graph, modules: Dict[str, nn.Module], number: int, op: Dict[str, Any]) -> None:
    module = modules.get(op["layer"])
    where = f"thinning plan operation {number} ({op['op']} channels {op['idxs']} of '{op['layer']}')"
    if not isinstance(module, LAYER_TYPES):
        raise UserError(f"{where} does not fit the model: it has no Conv or Linear layer by that name")
    pruner = graph.get_pruner_of_module(module)
    channels = pruner.get_out_channels(module) if op["op"] == "out" else pruner.get_in_channels(module)
    idxs = op["idxs"]
    if len(set(idxs)) != len(idxs) or not all(0 <= i < channels for i in idxs) or len(idxs) >= channels:
        raise UserError(f"{where} does not fit the model: the layer has {channels} {op['op']} channels")
    try:
        pruning_group(graph, module, op["op"], idxs).prune(record_history=False)
    except Exception as err:
        raise UserError(f"{where} does not fit the model: {type(err).__name__}: {err}") from None
