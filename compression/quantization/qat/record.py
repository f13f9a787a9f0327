"""A QAT model's quantizers as plain data: written into checkpoints, installed back from them.

Each record is `{"instance", "class", "config", "state"}`: the schedule's instance name, the
registered class name, the validated config as plain values and the quantizer's state (ranges,
clipping values, step sizes). Rebuilding needs nothing else: no schedule is parsed.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple

import torch
from pydantic import ValidationError
from torch import nn

from ...core.components import QUANTIZERS, BuildContext
from ...core.errors import UserError, validation_message
from .base import QATQuantizer

_KEYS = {"instance": str, "class": str, "config": dict, "state": dict}


def qat_record(quantizers: Iterable[Tuple[str, str, QATQuantizer]]) -> List[Dict[str, Any]]:
    """The record of (instance name, registered class name, quantizer) triples, in install order."""
    return [{"instance": instance, "class": class_name, "config": quantizer.config.model_dump(mode="json"),
             "state": quantizer.state_dict()} for instance, class_name, quantizer in quantizers]


def install_from_record(model: nn.Module, record: Any) -> List[QATQuantizer]:
    """Install on `model` (already holding its weights) the recorded quantizers, with their state."""
    if not isinstance(record, list):
        raise UserError(f"the checkpoint's QAT record is corrupted: expected a list, found {type(record).__name__}")
    context = _context(model) if record else None
    return [_install(item, number, context) for number, item in enumerate(record)]


def _install(item: Any, number: int, context: BuildContext) -> QATQuantizer:
    _check_shape(item, number)
    where = f"QAT quantizer '{item['instance']}' ({item['class']}) recorded in the checkpoint"
    if item["class"] not in _qat_names():
        raise UserError(f"{where}: this release has no QAT quantizer class '{item['class']}' "
                        f"(its QAT quantizers: {', '.join(_qat_names())})")
    entry = QUANTIZERS.get(item["class"])
    try:
        config = entry.config.model_validate(item["config"])
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise UserError(f"{where}: its config does not fit this release "
                        f"({field}: {validation_message(first)})") from None
    quantizer = entry.factory(config, context)
    _check_state(quantizer, item["state"], where)
    quantizer.load_state_dict(item["state"])
    return quantizer


def _check_state(quantizer: QATQuantizer, state: Dict[str, Any], where: str) -> None:
    """Every tensor the installed quantizer has, recorded with its shape (no silent defaults)."""
    if not state:  # a version-1 run stopped before its quantizer policy saved any state
        return
    tensors = state.get("tensors")
    if not isinstance(tensors, dict):
        raise UserError(f"{where}: its state is corrupted (no tensors)")
    live = quantizer._live_tensors()
    missing = sorted(set(live) - set(tensors))
    unknown = sorted(set(tensors) - set(live))
    if missing or unknown:
        raise UserError(f"{where}: its state does not fit the model (missing: {', '.join(missing) or 'none'}; "
                        f"not in the model: {', '.join(unknown) or 'none'})")
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor) or value.shape != live[key].shape:
            raise UserError(f"{where}: its state does not fit the model ('{key}' should be a tensor of shape "
                            f"{tuple(live[key].shape)})")


def _check_shape(item: Any, number: int) -> None:
    if not isinstance(item, dict):
        raise UserError(f"the checkpoint's QAT record is corrupted: entry {number} is not a mapping")
    for key, kind in _KEYS.items():
        if not isinstance(item.get(key), kind):
            raise UserError(f"the checkpoint's QAT record is corrupted: entry {number} has no {kind.__name__} "
                            f"'{key}'")


def _qat_names() -> List[str]:
    return [entry.name for entry in QUANTIZERS
            if isinstance(entry.factory, type) and issubclass(entry.factory, QATQuantizer)]


def _context(model: nn.Module) -> BuildContext:
    from ...pruning.masks import MaskStore

    device = next(model.parameters()).device
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    return BuildContext(model, optimizer, MaskStore(model), (), device)
