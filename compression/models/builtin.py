"""Registering a model defined in this package: no pretrained weights, a fixed input and class count."""
from __future__ import annotations

import sys
from typing import Callable

from torch import nn

from .registry import MODELS, no_pretrained_weights

CIFAR10 = {"input_shape": (3, 32, 32), "num_classes": 10, "default_dataset": "cifar10"}
IMAGENET = {"input_shape": (3, 224, 224), "num_classes": 1000, "default_dataset": "imagenet"}


def register_builtin(name: str, make: Callable[[int], nn.Module], description: str, data: dict) -> None:
    """Register `name`, built by `make(num_classes)`, for the images and classes `data` describes."""

    def factory(num_classes: int, pretrained: bool) -> nn.Module:
        if pretrained:
            raise no_pretrained_weights(name)
        return make(num_classes)

    MODELS.add(name, factory, description=description, registered_by=sys._getframe(1).f_globals["__name__"], **data)
