"""Distiller's Simplenet for MNIST (LeNet-like), with Distiller's module names."""
from __future__ import annotations

import torch
from torch import nn

from .registry import MODELS, no_pretrained_weights


class Simplenet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.relu3(self.fc1(x))
        return self.fc2(x)


@MODELS.register("simplenet_mnist", description="Distiller's Simplenet for MNIST (1x28x28, 10 classes)",
                 input_shape=(1, 28, 28), num_classes=10, default_dataset="mnist")
def simplenet_mnist(num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        raise no_pretrained_weights("simplenet_mnist")
    return Simplenet(num_classes)
