"""Thinning as a step on any checkpoint: load, remove what is zero, return the new payload."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch
from torch import nn

from ..restore import model_from_checkpoint
from ..thinning.plan import recorded_plan
from ..thinning.remove import remove_structures

# Shapes changed: optimizer state no longer fits the parameters.
_DROPPED = ("format", "optimizer_state")


def thin_checkpoint(payload: Dict[str, Any], kind: str = "filters",
                    layers: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """A new payload holding the thinned model: `model_state`, its `thinning` operations (so
    `model_from_checkpoint` rebuilds it), the same metadata, masks fitted to the new shapes,
    no optimizer state, and `thinning_summary` (parameters before/after, skipped layers, notes)."""
    model, info = model_from_checkpoint(payload)
    plan = remove_structures(model, torch.zeros(1, *info.input_shape), kind, layers=layers)
    thinned = {key: value for key, value in payload.items() if key not in _DROPPED}
    thinned["model_state"] = model.state_dict()
    thinned["thinning"] = recorded_plan(model)
    thinned["thinning_summary"] = {
        "kind": plan.kind, "params_before": plan.params_before, "params_after": plan.params_after,
        "removed": plan.removed, "skipped": plan.skipped, "notes": plan.notes,
    }
    if isinstance(payload.get("masks"), dict):
        thinned["masks"] = _fitted_masks(payload["masks"], model)
    return thinned


def _fitted_masks(masks: Dict[str, Any], model: nn.Module) -> Dict[str, Any]:
    """As MaskStore.refresh_shapes: a mask whose parameter changed shape becomes `parameter != 0`.
    Takes MaskStore.state_dict()'s {"masks": {...}, ...} or a bare {name: mask}."""
    if isinstance(masks.get("masks"), dict):
        return {**masks, "masks": _fitted_masks(masks["masks"], model)}
    params = dict(model.named_parameters())
    fitted = {}
    for name, mask in masks.items():
        if name in params:
            same = mask.shape == params[name].shape
            fitted[name] = mask if same else (params[name].detach() != 0).cpu()
    return fitted
