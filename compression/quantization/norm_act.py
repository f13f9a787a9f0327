"""timm's BatchNormAct2d split into modules the tracer sees, so its BatchNorm folds into the convolution.

timm's BatchNormAct2d (EfficientNet, MobileNetV3, RegNet) is a BatchNorm2d subclass that also runs
its own `drop` and `act` modules. torch.fx traces into it and sees a functional batch_norm, which
neither the simulated PTQ nor torch.ao's Conv-BN(-ReLU) fusion folds. Quantization works on a copy
where each becomes a `NormAct`: the same BatchNorm as a plain BatchNorm2d (`bn1.bn`), then its `act`
(`bn1.act`, the name it had). Its `drop` is kept under its name but not called: only an identity in
eval (nn.Identity, dropout) is split, so the statistics the original model recorded for `bn1.drop`
are those of the BatchNorm's output (`stats_name`). timm is optional: the module is recognised by
its shape (a BatchNorm2d subclass whose modules are `drop` and `act`).
"""
from __future__ import annotations

import copy
from typing import Mapping

import torch
from torch import nn

from .distiller_names import TRANSPARENT


class NormAct(nn.Module):
    """A BatchNormAct2d as separate modules: `bn`, then `act` (not called when it is an identity)."""

    def __init__(self, bn: nn.BatchNorm2d, drop: nn.Module, act: nn.Module):
        super().__init__()
        self.bn, self.drop, self.act = bn, drop, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(x)
        return x if isinstance(self.act, TRANSPARENT) else self.act(x)


def is_norm_act(module: nn.Module) -> bool:
    """A BatchNorm2d subclass that runs `drop` and `act` after normalizing, `drop` an identity in eval."""
    children = dict(module.named_children())
    return (isinstance(module, nn.BatchNorm2d) and type(module) is not nn.BatchNorm2d
            and set(children) == {"drop", "act"} and isinstance(children["drop"], TRANSPARENT))


def with_norm_acts_split(model: nn.Module) -> nn.Module:
    """A copy of `model` with every BatchNormAct2d split into a `NormAct` (`model` itself when it has none)."""
    if not any(name and is_norm_act(module) for name, module in model.named_modules()):
        return model
    split = copy.deepcopy(model)
    for name, module in list(split.named_modules()):
        if name and is_norm_act(module):
            parent, _, child = name.rpartition(".")
            setattr(split.get_submodule(parent) if parent else split, child, _split(module))
    return split


def _split(module: nn.BatchNorm2d) -> NormAct:
    bn = nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
    for key in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        setattr(bn, key, getattr(module, key))  # the same tensors (the module belongs to a copy)
    split = NormAct(bn, module.drop, module.act)
    split.train(module.training)
    return split


def stats_name(modules: Mapping[str, nn.Module], name: str) -> str:
    """The name the original model's statistics give `name`'s output: a split BatchNorm's is its `drop`'s."""
    parent, _, child = name.rpartition(".")
    if child == "bn" and isinstance(modules.get(parent), NormAct):
        return f"{parent}.drop"
    return name
