"""Replace layers by their low-rank factorizations, with the optimizer, masks and hooks following."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn

from ..core.errors import UserError
from ..thinning.plan import recorded_plan
from .decompose import factor_weights
from .layers import FactorizedLayer, factorized_structure
from .optimizer import replace_parameters
from .ranks import Geometry, choose_ranks, factorized_macs, layer_macs
from .record import record_step, replace_module
from .selection import Selection, Target, select_layers


@dataclass
class FactorizationPlan:
    """`layers`: each layer factorized, in order: {"layer", "method", "ranks", "params_before",
    "params_after", "macs_before", "macs_after"} (MACs for one input; None without an input shape)."""

    layers: List[Dict[str, Any]] = field(default_factory=list)
    skipped: List[Dict[str, str]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def factorize(model: nn.Module, config, input_shape: Sequence[int] = (),
              optimizer: Optional[torch.optim.Optimizer] = None, masks: Any = None) -> FactorizationPlan:
    """Factorize the layers `config` (a LowRankFactorizerConfig) selects, in place.

    Every rank is chosen before any layer changes, so a UserError leaves the model as it was.
    `optimizer` trains the new parameters instead of the old ones (with fresh state); masks of
    the replaced parameters (`masks`, a MaskStore) are dropped, each with a note.
    """
    selection = select_layers(model, config)
    geometries = _geometries(model, selection.targets, input_shape)
    ranks = [choose_ranks(target.name, target.module, target.method, target.choice, geometries.get(target.name))
             for target in selection.targets]
    for target in selection.targets:
        _check_not_quantized(target)
    plan = FactorizationPlan(skipped=list(selection.skipped))
    for target, layer_ranks in zip(selection.targets, ranks):
        plan.layers.append(_factorize_one(model, target, layer_ranks, geometries.get(target.name), optimizer))
    if masks is not None and plan.layers:
        _drop_masks(masks, plan)
    return plan


def check_ranks(model: nn.Module, selection: Selection, input_shape: Sequence[int]) -> None:
    """The ranks every target would take now (UserError if one cannot); energy is left to the weights then."""
    fixed = [target for target in selection.targets if target.choice.energy is None]
    geometries = _geometries(model, fixed, input_shape)
    for target in fixed:
        choose_ranks(target.name, target.module, target.method, target.choice, geometries.get(target.name))


def _geometries(model: nn.Module, targets: List[Target], input_shape: Sequence[int]) -> Dict[str, Geometry]:
    needs_size = [target.name for target in targets if target.choice.macs_ratio is not None]
    if needs_size and not input_shape:
        raise UserError(f"macs_ratio needs the model's input shape (C, H, W) to count MACs (layers: "
                        f"{', '.join(needs_size)})")
    return probe_geometry(model, [target.name for target in targets], input_shape)


@torch.no_grad()
def probe_geometry(model: nn.Module, names: List[str], input_shape: Sequence[int]) -> Dict[str, Geometry]:
    """Input and output sizes of the named layers in one forward pass of a zero input (empty without a shape)."""
    if not names or not input_shape:
        return {}
    geometries: Dict[str, Geometry] = {}
    modules = dict(model.named_modules())
    handles = [modules[name].register_forward_hook(_recorder(name, geometries)) for name in names]
    was_training = model.training
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        model.eval()
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return geometries


def _recorder(name: str, geometries: Dict[str, Geometry]):
    def record(module, inputs, output):
        if name in geometries:  # a layer called twice: its first call
            return
        if isinstance(module, nn.Linear):  # rows: every input position the layer multiplies
            rows = inputs[0].numel() // (inputs[0].shape[0] * module.in_features)
            geometries[name] = Geometry((rows, 1), (rows, 1))
        else:
            geometries[name] = Geometry(tuple(inputs[0].shape[-2:]), tuple(output.shape[-2:]))
    return record


def _check_not_quantized(target: Target) -> None:
    if hasattr(target.module, "_qat"):
        raise UserError(f"cannot factorize layer '{target.name}': a QAT quantizer fake-quantizes it, and its "
                        "quantizers would go with the layer")


def _factorize_one(model: nn.Module, target: Target, ranks: List[int], geometry: Optional[Geometry],
                   optimizer: Optional[torch.optim.Optimizer]) -> Dict[str, Any]:
    layer = target.module
    replacement = factorized_structure(layer, target.method, ranks)
    _copy_factors(layer, replacement, target.method, ranks)
    replacement.train(layer.training)
    move_hooks(layer, replacement)
    replace_module(model, target.name, replacement)
    if optimizer is not None:
        replace_parameters(optimizer, _replaced_parameters(layer, replacement))
    record_step(model, {"layer": target.name, "method": target.method, "ranks": list(ranks),
                        "thinning_before": len(recorded_plan(model))})
    known = geometry is not None
    return {"layer": target.name, "method": target.method, "ranks": list(ranks),
            "params_before": sum(p.numel() for p in layer.parameters()),
            "params_after": sum(p.numel() for p in replacement.parameters()),
            "macs_before": layer_macs(layer, geometry) if known else None,
            "macs_after": factorized_macs(layer, target.method, ranks, geometry) if known else None}


@torch.no_grad()
def _copy_factors(layer: nn.Module, replacement: FactorizedLayer, method: str, ranks: List[int]) -> None:
    for part, weight in zip(replacement, factor_weights(layer, method, ranks)):
        part.weight.copy_(weight)
    if layer.bias is not None:
        replacement[-1].bias.copy_(layer.bias)


def _replaced_parameters(layer: nn.Module, replacement: FactorizedLayer) -> Dict[nn.Parameter, List[nn.Parameter]]:
    """The old weight becomes every part's weight; the old bias, the last part's bias."""
    replaced = {layer.weight: [part.weight for part in replacement]}
    if layer.bias is not None:
        replaced[layer.bias] = [replacement[-1].bias]
    return replaced


def move_hooks(layer: nn.Module, replacement: nn.Module) -> None:
    """Hooks on the layer's input or output (distillation hints, statistics) see the replacement's, the same
    values; the hook tables move whole so that their handles still remove them."""
    for table in ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
                  "_forward_hooks_with_kwargs", "_forward_hooks_always_called"):
        if hasattr(layer, table):
            setattr(replacement, table, getattr(layer, table))


def _drop_masks(masks: Any, plan: FactorizationPlan) -> None:
    before = set(masks.masks)
    masks.refresh_shapes()  # a mask whose parameter is gone goes with it
    for name in sorted(before - set(masks.masks)):
        plan.notes.append(f"mask of {name} dropped: the factorized layer has no such parameter")
