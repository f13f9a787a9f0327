"""Distiller's VGG for CIFAR (Simonyan & Zisserman 2014), with Distiller's module names.

torchvision's VGG layout (`features` as one Sequential of conv, [BatchNorm,] ReLU and max
pooling), with the three-layer classifier replaced by one `classifier` Linear(512 -> classes).
"""
from __future__ import annotations

from functools import partial
from typing import List, Sequence, Union

import torch
from torch import nn

from .builtin import CIFAR10, register_builtin

# Convolution widths per configuration of the paper; "M" is 2x2 max pooling.
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_features(config: Sequence[Union[int, str]], batch_norm: bool) -> nn.Sequential:
    layers: List[nn.Module] = []
    channels = 3
    for width in config:
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU())
        channels = width
    return nn.Sequential(*layers)


class VGGCifar(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, batch_norm: bool = False):
        super().__init__()
        self.features = make_features(CONFIGS[depth], batch_norm)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


for _depth in CONFIGS:
    register_builtin(f"vgg{_depth}_cifar", partial(VGGCifar, _depth),
                     f"Distiller's VGG-{_depth} for CIFAR, one linear classifier (3x32x32)", CIFAR10)
    register_builtin(f"vgg{_depth}_bn_cifar", partial(VGGCifar, _depth, batch_norm=True),
                     f"Distiller's VGG-{_depth} with BatchNorm for CIFAR, one linear classifier (3x32x32)", CIFAR10)
