"""Distiller's AlexNet with BatchNorm (TensorPack's DoReFa-Net AlexNet), with Distiller's module names.

`features.0` is a 12x12 stride-4 convolution with bias, then grouped convolutions without bias
each followed by BatchNorm (`features.2`/`3`, `6`/`7`, `10`/`11`, `13`/`14`); `classifier` is
Linear-BN-ReLU twice and a final Linear (`classifier.6`). 224x224 images; not torchvision's
`alexnet`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .builtin import IMAGENET, register_builtin

# TensorPack's settings, kept as Distiller wrote them (PyTorch's momentum is the new value's weight).
BN = {"eps": 1e-4, "momentum": 0.9}


class AlexNetBN(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=12, stride=4),                            # 0: -> 96x54x54
            nn.ReLU(),
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2, bias=False),    # 2
            nn.BatchNorm2d(256, **BN),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),                 # 4: -> 256x27x27
            nn.ReLU(),
            nn.Conv2d(256, 384, kernel_size=3, padding=1, bias=False),             # 6
            nn.BatchNorm2d(384, **BN),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),                      # 8: -> 384x14x14
            nn.ReLU(),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2, bias=False),   # 10
            nn.BatchNorm2d(384, **BN),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2, bias=False),   # 13
            nn.BatchNorm2d(256, **BN),
            nn.MaxPool2d(kernel_size=3, stride=2),                                 # 15: -> 256x6x6
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096, bias=False),
            nn.BatchNorm1d(4096, **BN),
            nn.ReLU(),
            nn.Linear(4096, 4096, bias=False),
            nn.BatchNorm1d(4096, **BN),
            nn.ReLU(),
            nn.Linear(4096, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """He initialisation by fan-in, as Distiller's (which counts all input channels of a grouped conv)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = (module.in_channels * math.prod(module.kernel_size) if isinstance(module, nn.Conv2d)
                          else module.in_features)
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_in))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


register_builtin("alexnet_bn", AlexNetBN,
                 "Distiller's AlexNet with BatchNorm (TensorPack's DoReFa layout) for ImageNet (3x224x224)", IMAGENET)
