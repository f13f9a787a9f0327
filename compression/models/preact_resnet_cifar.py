"""Distiller's pre-activation ResNets for CIFAR (He et al. 2016, "Identity Mappings"), Distiller's names.

Each block `layerN.M` is `pre_bn`, `pre_relu`, `conv1`, `bn`, `relu`, `conv2` plus the
shortcut; the network ends with `final_bn`, `final_relu`, `avgpool`, `fc`. Where a stage
halves the size and doubles the channels, the shortcut `downsample` is either parameter-free
(`downsample.0` 2x2 average pooling, `downsample.1` zero channels padded on both sides, applied
to the block's input) or, in the `_conv_ds` variants, a strided 1x1 convolution applied to the
pre-activated input.
"""
from __future__ import annotations

from functools import partial
from typing import Optional

import torch
from torch import nn

from .builtin import CIFAR10, register_builtin


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class PreactBasicBlock(nn.Module):
    """BN-ReLU-conv-BN-ReLU-conv, plus the shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None,
                 downsample_preactivated: bool = False):
        super().__init__()
        self.pre_bn = nn.BatchNorm2d(inplanes)
        self.pre_relu = nn.ReLU()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = _conv3x3(planes, planes)
        self.downsample = downsample
        self.downsample_preactivated = downsample_preactivated

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.pre_relu(self.pre_bn(x))
        out = self.conv2(self.relu(self.bn(self.conv1(preact))))
        if self.downsample is None:
            residual = x
        else:
            residual = self.downsample(preact if self.downsample_preactivated else x)
        return out + residual


def _downsample(inplanes: int, outplanes: int, stride: int, conv: bool) -> nn.Module:
    if conv:
        return nn.Conv2d(inplanes, outplanes, kernel_size=1, stride=stride, bias=False)
    pad = (outplanes - inplanes) // 2
    # on (N, C, H, W) ConstantPad3d pads the last three dimensions: C by `pad` on each side
    return nn.Sequential(nn.AvgPool2d(2), nn.ConstantPad3d((0, 0, 0, 0, pad, pad), 0.0))


class PreactResNetCifar(nn.Module):
    def __init__(self, blocks_per_layer: int, num_classes: int = 10, conv_downsample: bool = False):
        super().__init__()
        self.inplanes = 16
        self.conv1 = _conv3x3(3, 16)
        self.layer1 = self._make_layer(16, blocks_per_layer, 1, conv_downsample)
        self.layer2 = self._make_layer(32, blocks_per_layer, 2, conv_downsample)
        self.layer3 = self._make_layer(64, blocks_per_layer, 2, conv_downsample)
        self.final_bn = nn.BatchNorm2d(64)
        self.final_relu = nn.ReLU()
        self.avgpool = nn.AvgPool2d(8, stride=1)
        self.fc = nn.Linear(64, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int, conv_downsample: bool) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = _downsample(self.inplanes, planes, stride, conv_downsample)
        layers = [PreactBasicBlock(self.inplanes, planes, stride, downsample, conv_downsample)]
        self.inplanes = planes
        layers += [PreactBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.avgpool(self.final_relu(self.final_bn(x)))
        return self.fc(torch.flatten(x, 1))


for _depth in (20, 32, 44, 56, 110):
    _blocks = (_depth - 2) // 6
    register_builtin(f"preact_resnet{_depth}_cifar", partial(PreactResNetCifar, _blocks),
                     f"Distiller's pre-activation ResNet-{_depth} for CIFAR, parameter-free shortcuts (3x32x32)",
                     CIFAR10)
    register_builtin(f"preact_resnet{_depth}_cifar_conv_ds", partial(PreactResNetCifar, _blocks, conv_downsample=True),
                     f"Distiller's pre-activation ResNet-{_depth} for CIFAR, 1x1-convolution shortcuts (3x32x32)",
                     CIFAR10)
