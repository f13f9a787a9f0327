"""Which BatchNorms a model has folded, as plain data a weights-only checkpoint holds, and its replay.

The record is {conv name: BatchNorm name}, the key `folded_batchnorm` of a checkpoint: the same one a
packed int8 model writes for the BatchNorms its int8 kernels fold in.
"""
from __future__ import annotations

from typing import Any, Dict

import torch
from torch import nn

from ..core.errors import UserError
from ..factorization.record import replace_module

RECORD_ATTRIBUTE = "_folded_batchnorm"


def recorded_folding(model: nn.Module) -> Dict[str, str]:
    """{conv: BatchNorm} of every BatchNorm folded in this model so far (empty if none)."""
    return dict(model.__dict__.get(RECORD_ATTRIBUTE, {}))


def record_fold(model: nn.Module, conv_name: str, bn_name: str) -> None:
    model.__dict__.setdefault(RECORD_ATTRIBUTE, {})[conv_name] = bn_name


def replay_folding(model: nn.Module, folded: Any) -> None:
    """Each recorded BatchNorm becomes an Identity and its convolution gets a bias to hold the folded one
    (its values are left for load_state_dict)."""
    if not isinstance(folded, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in folded.items()):
        raise UserError(f"a BatchNorm folding record must map convolution names to BatchNorm names, got {folded!r}")
    modules = dict(model.named_modules())
    for conv_name, bn_name in folded.items():
        conv = modules.get(conv_name)
        if not isinstance(conv, nn.Conv2d) or bn_name not in modules:
            raise UserError(f"the BatchNorm folding record ({conv_name} <- {bn_name}) does not fit the model: it has "
                            f"no Conv2d '{conv_name}' or no module '{bn_name}'")
        if conv.bias is None:
            conv.bias = nn.Parameter(torch.zeros(conv.out_channels, device=conv.weight.device))
        replace_module(model, bn_name, nn.Identity())
        record_fold(model, conv_name, bn_name)
