"""Distiller's plain (no shortcut) 20-layer CIFAR networks, with Distiller's module names.

He et al. 2015's "plain" baseline: ResNet-20's layers without the residual connections,
with or without BatchNorm. Blocks are `layerN.M` with `conv1`, `bn1`, `relu1`, `conv2`, `bn2`,
`relu2`; without BatchNorm the `bn` attributes are None, as in Distiller, so no module has
their names.
"""
from __future__ import annotations

from functools import partial
from typing import Optional

import torch
from torch import nn

from .builtin import CIFAR10, register_builtin


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _norm(channels: int, batch_norm: bool) -> Optional[nn.BatchNorm2d]:
    return nn.BatchNorm2d(channels) if batch_norm else None


def _maybe(module: Optional[nn.Module], x: torch.Tensor) -> torch.Tensor:
    return x if module is None else module(x)


class PlainBlock(nn.Module):
    """Two 3x3 convolutions, each followed by (BatchNorm and) ReLU; no shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int, batch_norm: bool):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = _norm(planes, batch_norm)
        self.relu1 = nn.ReLU()
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = _norm(planes, batch_norm)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(_maybe(self.bn1, self.conv1(x)))
        return self.relu2(_maybe(self.bn2, self.conv2(x)))


class PlainCifar(nn.Module):
    def __init__(self, blocks_per_layer: int, num_classes: int = 10, batch_norm: bool = True):
        super().__init__()
        self.conv1 = _conv3x3(3, 16)
        self.bn1 = _norm(16, batch_norm)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(16, 16, blocks_per_layer, 1, batch_norm)
        self.layer2 = self._make_layer(16, 32, blocks_per_layer, 2, batch_norm)
        self.layer3 = self._make_layer(32, 64, blocks_per_layer, 2, batch_norm)
        self.avgpool = nn.AvgPool2d(8, stride=1)
        self.fc = nn.Linear(64, num_classes)

    @staticmethod
    def _make_layer(inplanes: int, planes: int, blocks: int, stride: int, batch_norm: bool) -> nn.Sequential:
        first = PlainBlock(inplanes, planes, stride, batch_norm)
        return nn.Sequential(first, *(PlainBlock(planes, planes, 1, batch_norm) for _ in range(1, blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(_maybe(self.bn1, self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


register_builtin("plain20_cifar", partial(PlainCifar, 3),
                 "Distiller's plain 20-layer CIFAR network: ResNet-20 without shortcuts (3x32x32)", CIFAR10)
register_builtin("plain20_cifar_nobn", partial(PlainCifar, 3, batch_norm=False),
                 "Distiller's plain 20-layer CIFAR network without BatchNorm (3x32x32)", CIFAR10)
