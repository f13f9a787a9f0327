"""Distiller's pre-activation ResNets for ImageNet (He et al. 2016, "Identity Mappings"), Distiller's names.

The stem is torchvision's (`conv1`, `bn1`, `relu1`, `maxpool`); each block `layerN.M` is
`pre_bn`, `pre_relu`, `conv1`, `bn1_2`, `relu1_2`, `conv2` (and for bottlenecks `bn2_3`,
`relu2_3`, `conv3`); the network ends with `final_bn`, `final_relu`, `avgpool`, `fc`. The first
block of `layer1` is not pre-activated (the stem's BN-ReLU does it), so it has no `pre_bn`.
Shortcuts that change the shape are a strided 1x1 convolution, `downsample.0`, on the
pre-activated input. Convolution and fc weights have torchvision's ResNet names and shapes.
"""
from __future__ import annotations

from functools import partial
from typing import Optional, Sequence, Type, Union

import torch
from torch import nn

from .builtin import IMAGENET, register_builtin
from .init import he_fan_out_init


class _PreactBlock(nn.Module):
    expansion = 1

    def _set_preactivation(self, inplanes: int, preactivate: bool) -> None:
        self.pre_bn = nn.BatchNorm2d(inplanes) if preactivate else None
        self.pre_relu = nn.ReLU() if preactivate else None

    def _residual_body(self, preact: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = x if self.pre_bn is None else self.pre_relu(self.pre_bn(x))
        residual = x if self.downsample is None else self.downsample(preact)
        return self._residual_body(preact) + residual


class PreactBasicBlock(_PreactBlock):
    """[BN-ReLU-]conv3x3-BN-ReLU-conv3x3, plus the shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None,
                 preactivate: bool = True):
        super().__init__()
        self._set_preactivation(inplanes, preactivate)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1_2 = nn.BatchNorm2d(planes)
        self.relu1_2 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.downsample = downsample

    def _residual_body(self, preact: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu1_2(self.bn1_2(self.conv1(preact))))


class PreactBottleneck(_PreactBlock):
    """[BN-ReLU-]conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1 (4x the width), plus the shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None,
                 preactivate: bool = True):
        super().__init__()
        self._set_preactivation(inplanes, preactivate)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1_2 = nn.BatchNorm2d(planes)
        self.relu1_2 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2_3 = nn.BatchNorm2d(planes)
        self.relu2_3 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.downsample = downsample

    def _residual_body(self, preact: torch.Tensor) -> torch.Tensor:
        out = self.relu1_2(self.bn1_2(self.conv1(preact)))
        out = self.relu2_3(self.bn2_3(self.conv2(out)))
        return self.conv3(out)


Block = Type[Union[PreactBasicBlock, PreactBottleneck]]


class PreactResNet(nn.Module):
    def __init__(self, block: Block, layers: Sequence[int], num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu1 = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.final_bn = nn.BatchNorm2d(512 * block.expansion)
        self.final_relu = nn.ReLU()
        self.avgpool = nn.AvgPool2d(7, stride=1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        he_fan_out_init(self)

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        outplanes = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != outplanes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, outplanes, 1, stride=stride, bias=False))
        # layer1's first block follows the stem's BN-ReLU (and max pooling): it is not pre-activated
        layers = [block(self.inplanes, planes, stride, downsample, preactivate=stride != 1)]
        self.inplanes = outplanes
        layers += [block(outplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(self.final_relu(self.final_bn(x)))
        return self.fc(torch.flatten(x, 1))


DEPTHS = {18: (PreactBasicBlock, (2, 2, 2, 2)), 34: (PreactBasicBlock, (3, 4, 6, 3)),
          50: (PreactBottleneck, (3, 4, 6, 3)), 101: (PreactBottleneck, (3, 4, 23, 3)),
          152: (PreactBottleneck, (3, 8, 36, 3))}

for _depth, (_block, _layers) in DEPTHS.items():
    register_builtin(f"preact_resnet{_depth}", partial(PreactResNet, _block, _layers),
                     f"Distiller's pre-activation ResNet-{_depth} for ImageNet (3x224x224)", IMAGENET)
