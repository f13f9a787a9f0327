"""MobileNet v1 (Howard et al. 2017) for 224x224 ImageNet images, in Distiller's two layouts.

`mobilenet` (and the width multipliers `mobilenet_025/050/075`): `model` is one Sequential of
14 stages: `model.0` is conv-BN-ReLU, `model.1`..`model.13` each a depthwise 3x3 conv, BN,
ReLU (`.0`-`.2`) then a pointwise 1x1 conv, BN, ReLU (`.3`-`.5`); `model.14` is 7x7 average
pooling; then `fc`. `mobilenet_v1_dropout` (the layout of AMC's compressed models): `conv1`,
13 stages as `features.0`..`features.12`, global average pooling, and `classifier` (Dropout(0.2),
Linear).
"""
from __future__ import annotations

import math
from functools import partial
from typing import List, Tuple

import torch
from torch import nn

from .builtin import IMAGENET, register_builtin
from .init import he_fan_out_init

BASE_WIDTHS = (32, 64, 128, 256, 512, 1024)
# (output width index, stride) of the 13 depthwise-separable stages
STAGES: Tuple[Tuple[int, int], ...] = ((1, 1), (2, 2), (2, 1), (3, 2), (3, 1), (4, 2), (4, 1), (4, 1), (4, 1),
                                       (4, 1), (4, 1), (5, 2), (5, 1))


def _conv_bn_relu(inputs: int, outputs: int, kernel: int, stride: int, groups: int = 1) -> List[nn.Module]:
    return [nn.Conv2d(inputs, outputs, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(outputs), nn.ReLU()]


def _separable(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(*_conv_bn_relu(inputs, inputs, 3, stride, groups=inputs),
                         *_conv_bn_relu(inputs, outputs, 1, 1))


def _stages(widths: List[int]) -> List[nn.Sequential]:
    inputs = [widths[0]] + [widths[index] for index, _ in STAGES[:-1]]
    return [_separable(ins, widths[index], stride) for ins, (index, stride) in zip(inputs, STAGES)]


class MobileNet(nn.Module):
    """Distiller's `mobilenet`: widths are floor(base * multiplier), at least 8."""

    def __init__(self, channel_multiplier: float = 1.0, num_classes: int = 1000, min_channels: int = 8):
        super().__init__()
        widths = [max(math.floor(width * channel_multiplier), min_channels) for width in BASE_WIDTHS]
        self.model = nn.Sequential(nn.Sequential(*_conv_bn_relu(3, widths[0], 3, 2)), *_stages(widths),
                                   nn.AvgPool2d(7))
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.model(x), 1))


class MobileNetV1Dropout(nn.Module):
    """Distiller's `mobilenet_v1_dropout`, initialised as Distiller does."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        widths = list(BASE_WIDTHS)
        self.conv1 = nn.Sequential(*_conv_bn_relu(3, widths[0], 3, 2))
        self.features = nn.Sequential(*_stages(widths))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(widths[-1], num_classes))
        he_fan_out_init(self, linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.conv1(x)).mean(dim=(2, 3))
        return self.classifier(x)


def _mobilenet(multiplier: float, num_classes: int) -> nn.Module:
    return MobileNet(multiplier, num_classes)


register_builtin("mobilenet", partial(_mobilenet, 1.0),
                 "Distiller's MobileNet v1 for ImageNet (3x224x224); not torchvision's mobilenet_v2", IMAGENET)
for _suffix, _multiplier in (("025", 0.25), ("050", 0.5), ("075", 0.75)):
    register_builtin(f"mobilenet_{_suffix}", partial(_mobilenet, _multiplier),
                     f"Distiller's MobileNet v1 at width x{_multiplier} for ImageNet (3x224x224)", IMAGENET)
register_builtin("mobilenet_v1_dropout", MobileNetV1Dropout,
                 "Distiller's MobileNet v1 in AMC's layout, dropout before the classifier (3x224x224)", IMAGENET)
