"""A small CNN for scikit-learn's 8x8 digits."""
from __future__ import annotations

import torch
from torch import nn

from .registry import MODELS, no_pretrained_weights


class DigitsCNN(nn.Module):
    """Three 3x3 conv blocks (8x8 -> 4x4 -> 2x2) and two linear layers."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(128)
        self.relu3 = nn.ReLU()
        self.pool3 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(128 * 2 * 2, 128)
        self.relu4 = nn.ReLU()
        self.dropout = nn.Dropout(0.25)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.pool3(self.relu3(self.bn3(self.conv3(x))))
        x = torch.flatten(x, 1)
        x = self.dropout(self.relu4(self.fc1(x)))
        return self.fc2(x)


@MODELS.register("digits_cnn", description="small CNN for the 8x8 digits (1x8x8, 10 classes)",
                 input_shape=(1, 8, 8), num_classes=10, default_dataset="digits")
def digits_cnn(num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        raise no_pretrained_weights("digits_cnn")
    return DigitsCNN(num_classes)
