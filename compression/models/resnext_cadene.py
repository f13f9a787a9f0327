"""ResNeXt-101 32x4d as Distiller used it: Cadene's `pretrainedmodels` port of the Torch7 model.

Distiller's `--arch resnext101_32x4d` came from the `pretrainedmodels` package, whose network
was converted from Lua Torch: nested Sequentials, so its parameter names (and the schedules
written for it) read `features.4.0.0.0.0.0.weight`. This rebuilds that structure, names and
shapes included: `features` = stem (0-3) and four stages (4-7); each block is
[branches (0: main path, 1: shortcut), the addition (1), ReLU (2)]; the main path is
[[1x1, BN, ReLU, grouped 3x3, BN, ReLU] (0), 1x1 (1), BN (2)]; then `avg_pool` and `last_linear`.
"""
from __future__ import annotations

from typing import List

import torch
from torch import nn

from .builtin import IMAGENET, register_builtin
from .init import he_fan_out_init

CARDINALITY, BASE_WIDTH = 32, 4
STAGES = ((64, 3, 1), (128, 4, 2), (256, 23, 2), (512, 3, 2))  # (planes, blocks, stride)


class Branches(nn.Module):
    """Sum of the main path (child "0") and the shortcut (child "1"), as the Lua model's LambdaMap + reduce."""

    def __init__(self, main: nn.Module, shortcut: nn.Module):
        super().__init__()
        self.add_module("0", main)
        self.add_module("1", shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._modules["0"](x) + self._modules["1"](x)


def _block(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    width = planes * BASE_WIDTH * CARDINALITY // 64
    out = planes * 4
    inner = nn.Sequential(nn.Conv2d(inplanes, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                          nn.Conv2d(width, width, 3, stride, 1, groups=CARDINALITY, bias=False),
                          nn.BatchNorm2d(width), nn.ReLU())
    main = nn.Sequential(inner, nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out))
    shortcut: nn.Module = nn.Identity()
    if stride != 1 or inplanes != out:
        shortcut = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    # index 1 stands where the Lua model's addition module was: the sum happens in Branches
    return nn.Sequential(Branches(main, shortcut), nn.Identity(), nn.ReLU())


class ResNeXt101Cadene(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers: List[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                   nn.MaxPool2d(3, 2, 1)]
        inplanes = 64
        for planes, blocks, stride in STAGES:
            stage = []
            for index in range(blocks):
                stage.append(_block(inplanes, planes, stride if index == 0 else 1))
                inplanes = planes * 4
            layers.append(nn.Sequential(*stage))
        self.features = nn.Sequential(*layers)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.last_linear = nn.Linear(inplanes, num_classes)
        he_fan_out_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_linear(torch.flatten(self.avg_pool(self.features(x)), 1))


register_builtin("resnext101_32x4d", ResNeXt101Cadene,
                 "ResNeXt-101 32x4d with the module names of Cadene's pretrainedmodels (Distiller's)", IMAGENET)
