"""A small CNN for scikit-learn's 8x8 digits."""
from __future__ import annotations

import torch
from torch import nn

from .registry import MODELS, no_pretrained_weights


class DigitsCNN(nn.Module):
    """Three 3x3 conv blocks (8x8 -> 4x4 -> 2x2) and two linear layers."""

    def __init__(self, num_classes: int = 10, widths=(32, 64, 128), hidden: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, padding=1)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(widths[0], widths[1], 3, padding=1)
        self.bn2 = nn.BatchNorm2d(widths[1])
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(widths[1], widths[2], 3, padding=1)
        self.bn3 = nn.BatchNorm2d(widths[2])
        self.relu3 = nn.ReLU()
        self.pool3 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(widths[2] * 2 * 2, hidden)
        self.relu4 = nn.ReLU()
        self.dropout = nn.Dropout(0.25)
        self.fc2 = nn.Linear(hidden, num_classes)

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


@MODELS.register("digits_cnn_small", description="the digits CNN at 1/25 of the parameters, a student to distil into",
                 input_shape=(1, 8, 8), num_classes=10, default_dataset="digits")
def digits_cnn_small(num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        raise no_pretrained_weights("digits_cnn_small")
    return DigitsCNN(num_classes, widths=(8, 16, 16), hidden=32)
