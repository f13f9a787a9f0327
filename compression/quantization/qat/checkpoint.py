"""Rebuild a QAT model from its checkpoint: the schedule it records re-installs the quantizers,
the policy state it records gives them their trained ranges, clipping values and step sizes."""
from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import nn

from ...components import BuildContext
from .base import QATQuantizer


def install_from_checkpoint(model: nn.Module, payload: Dict[str, Any]) -> List[QATQuantizer]:
    """Install on `model` (already holding the checkpoint's weights) the QAT quantizers its run used."""
    text = payload.get("schedule_text")
    if not text:
        return []
    from ...schedule import parse_schedule_text

    schedule = parse_schedule_text(text)
    states = payload.get("policies_state", {})
    built: Dict[str, QATQuantizer] = {}
    for spec in schedule.policies:
        if spec.kind != "quantizer":
            continue
        component = schedule.component("quantizers", spec.instance)
        factory = component.entry.factory
        if not (isinstance(factory, type) and issubclass(factory, QATQuantizer)):
            continue
        if spec.instance not in built:
            built[spec.instance] = factory(component.config, _context(model))
        state = states.get(f"{spec.index}:{spec.instance}")
        if state:
            built[spec.instance].load_state_dict(state)
    return list(built.values())


def _context(model: nn.Module) -> BuildContext:
    from ...pruning.masks import MaskStore

    device = next(model.parameters()).device
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    return BuildContext(model, optimizer, MaskStore(model), (), device)
