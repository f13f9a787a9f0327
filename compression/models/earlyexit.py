"""Distiller's early-exit ResNets, with Distiller's module names and exit placement.

CIFAR (`resnetN_cifar_earlyexit`): one exit on the output of the third block of the first stage
(`layer1.2.relu2`): 3x3 average pooling, flatten, Linear(16 * 10 * 10 -> classes).
ImageNet (`resnet50_earlyexit`): a torchvision ResNet-50 whose bottlenecks name `relu1`,
`relu2`, `relu3` and `add` as Distiller's do, with exits on `layer1.2.relu3` (7x7 conv to 10
channels, stride 2; 3x3 max pooling, stride 2; Linear(1960 -> classes)) and `layer2.3.relu3`
(the same with 12 channels; Linear(588 -> classes)), for 224x224 images.

Their forward returns the final exit's logits; exits.py runs the exits.
"""
from __future__ import annotations

from functools import partial
from typing import List, Tuple

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from .exits import attach_exit
from .registry import MODELS, no_pretrained_weights
from .resnet_cifar import ResNetCifar

Units = List[Tuple[str, nn.Module]]


def _stage_units(model: nn.Module, stages: Tuple[str, ...]) -> Units:
    return [(f"{stage}.{index}", block) for stage in stages for index, block in enumerate(getattr(model, stage))]


class ResNetCifarEarlyExit(ResNetCifar):
    """Distiller's CIFAR ResNet with one early exit after the third block of `layer1`."""

    def __init__(self, blocks_per_layer: int, num_classes: int = 10):
        super().__init__(blocks_per_layer, num_classes)
        attach_exit(self, "layer1.2.relu2", nn.Sequential(nn.AvgPool2d(3), nn.Flatten(),
                                                          nn.Linear(16 * 10 * 10, num_classes)))

    def trunk_units(self) -> Units:
        """The modules the forward pass runs, in order, at block granularity."""
        return [("conv1", self.conv1), ("bn1", self.bn1), ("relu", self.relu),
                *_stage_units(self, ("layer1", "layer2", "layer3")),
                ("avgpool", self.avgpool), ("flatten", nn.Flatten()), ("fc", self.fc)]


class Add(nn.Module):
    """Element-wise sum as a module (Distiller's `add`), so it has a name of its own."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class NamedBottleneck(Bottleneck):
    """torchvision's Bottleneck (same parameters) with Distiller's `relu1`-`relu3` and `add` modules."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.relu
        convs = {name: getattr(self, name) for name in ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3")}
        downsample = self.downsample
        for name in list(self._modules):
            del self._modules[name]
        # registered in the order the forward pass runs them
        self.conv1, self.bn1, self.relu1 = convs["conv1"], convs["bn1"], nn.ReLU(inplace=True)
        self.conv2, self.bn2, self.relu2 = convs["conv2"], convs["bn2"], nn.ReLU(inplace=True)
        self.conv3, self.bn3 = convs["conv3"], convs["bn3"]
        self.downsample = downsample
        self.add = Add()
        self.relu3 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(self.add(out, identity))


def _imagenet_exit(in_channels: int, channels: int, features: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, channels, kernel_size=7, stride=2, padding=3, bias=True),
                         nn.MaxPool2d(kernel_size=3, stride=2, padding=1), nn.Flatten(),
                         nn.Linear(features, num_classes))


class ResNetEarlyExit(ResNet):
    """Distiller's ResNet-50 with early exits after `layer1.2` and `layer2.3` (224x224 images)."""

    def __init__(self, layers: List[int], num_classes: int = 1000):
        super().__init__(NamedBottleneck, layers, num_classes=num_classes)
        attach_exit(self, "layer1.2.relu3", _imagenet_exit(256, 10, 10 * 14 * 14, num_classes))
        attach_exit(self, "layer2.3.relu3", _imagenet_exit(512, 12, 12 * 7 * 7, num_classes))

    def trunk_units(self) -> Units:
        """The modules the forward pass runs, in order, at block granularity."""
        return [("conv1", self.conv1), ("bn1", self.bn1), ("relu", self.relu), ("maxpool", self.maxpool),
                *_stage_units(self, ("layer1", "layer2", "layer3", "layer4")),
                ("avgpool", self.avgpool), ("flatten", nn.Flatten()), ("fc", self.fc)]


def _build_cifar(name: str, blocks_per_layer: int, num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        raise no_pretrained_weights(name)
    return ResNetCifarEarlyExit(blocks_per_layer, num_classes)


def _build_resnet50(num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        raise no_pretrained_weights("resnet50_earlyexit")
    return ResNetEarlyExit([3, 4, 6, 3], num_classes)


for _depth in (20, 32, 44, 56, 110):
    _name = f"resnet{_depth}_cifar_earlyexit"
    _blocks = (_depth - 2) // 6
    MODELS.add(_name, partial(_build_cifar, _name, _blocks),
               description=f"Distiller's ResNet-{_depth} for CIFAR with an early exit after layer1.2 "
                           f"(3x32x32, {_blocks} blocks per stage)",
               input_shape=(3, 32, 32), num_classes=10, default_dataset="cifar10", early_exits=1)

MODELS.add("resnet50_earlyexit", _build_resnet50,
           description="Distiller's ResNet-50 with early exits after layer1.2 and layer2.3 (3x224x224)",
           input_shape=(3, 224, 224), num_classes=1000, default_dataset="imagenet", early_exits=2)
