"""Distiller's CIFAR ResNets (He et al. 2015, section 4.2), with Distiller's module names.

The names matter: Distiller schedules address parameters such as
`layer2.0.downsample.0.weight`.
"""
from __future__ import annotations

from functools import partial
from typing import Optional

import torch
from torch import nn

from .init import he_fan_out_init
from .registry import MODELS, no_pretrained_weights


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + residual)


class ResNetCifar(nn.Module):
    def __init__(self, blocks_per_layer: int, num_classes: int = 10):
        super().__init__()
        self.inplanes = 16
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(16, blocks_per_layer, stride=1)
        self.layer2 = self._make_layer(32, blocks_per_layer, stride=2)
        self.layer3 = self._make_layer(64, blocks_per_layer, stride=2)
        self.avgpool = nn.AvgPool2d(8, stride=1)
        self.fc = nn.Linear(64 * BasicBlock.expansion, num_classes)
        he_fan_out_init(self)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * BasicBlock.expansion,
                          kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _build(name: str, blocks_per_layer: int, num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        raise no_pretrained_weights(name)
    return ResNetCifar(blocks_per_layer, num_classes)


for _depth in (20, 32, 44, 56, 110):
    _name = f"resnet{_depth}_cifar"
    _blocks = (_depth - 2) // 6
    MODELS.add(_name, partial(_build, _name, _blocks),
               description=f"Distiller's ResNet-{_depth} for CIFAR (3x32x32, {_blocks} blocks per stage)",
               input_shape=(3, 32, 32), num_classes=10, default_dataset="cifar10")
