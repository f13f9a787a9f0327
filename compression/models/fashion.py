"""CNNs for Fashion-MNIST (1x28x28, 10 classes): about 94k and 6k parameters."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .registry import MODELS, no_pretrained_weights


class FashionCNN(nn.Module):
    """Three 3x3 conv blocks (28x28 -> 14x14 -> 7x7), global average pooling and one linear layer."""

    def __init__(self, num_classes: int = 10, widths: Sequence[int] = (32, 64, 128)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(widths[0], widths[1], 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(widths[1])
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(widths[1], widths[2], 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(widths[2])
        self.relu3 = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[2], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.avgpool(self.relu3(self.bn3(self.conv3(x))))
        return self.fc(torch.flatten(x, 1))


@MODELS.register("fashion_cnn", description="CNN for Fashion-MNIST, about 94k parameters (1x28x28, 10 classes)",
                 input_shape=(1, 28, 28), num_classes=10, default_dataset="fashion_mnist")
def fashion_cnn(num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        raise no_pretrained_weights("fashion_cnn")
    return FashionCNN(num_classes)


@MODELS.register("fashion_cnn_small", description="the Fashion-MNIST CNN at 1/16 of the parameters (about 6k), "
                                                  "a student to distil into",
                 input_shape=(1, 28, 28), num_classes=10, default_dataset="fashion_mnist")
def fashion_cnn_small(num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        raise no_pretrained_weights("fashion_cnn_small")
    return FashionCNN(num_classes, widths=(8, 16, 32))
