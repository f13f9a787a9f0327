"""The model registry: what each model is (input shape, classes, data) and how to build it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from ..core.errors import UserError
from ..core.registry import Registry
from .imported import imported_entry, is_import_path

MODELS = Registry("model")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    input_shape: Tuple[int, int, int]
    num_classes: int
    default_dataset: str
    description: str


def model_entry(name: str):
    """A registered model, or one given by import path (`package.module:factory`)."""
    if is_import_path(name):
        return imported_entry(name)
    return MODELS.get(name)


def model_info(name: str) -> ModelInfo:
    """What a registered model expects and produces; unknown names raise UserError."""
    entry = model_entry(name)
    return ModelInfo(
        name=entry.name,
        input_shape=tuple(entry.extra["input_shape"]),
        num_classes=entry.extra["num_classes"],
        default_dataset=entry.extra["default_dataset"],
        description=entry.description,
    )


def build_model(name: str, num_classes: Optional[int] = None,
                pretrained: bool = False) -> torch.nn.Module:
    """A fresh model; `num_classes` defaults to the model's own class count."""
    entry = model_entry(name)
    if num_classes is None:
        num_classes = entry.extra["num_classes"]
    # bool is an int subclass, but `num_classes: true` is a mistake
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise UserError(f"model '{name}': num_classes must be a positive integer, got {num_classes!r}")
    return entry.factory(num_classes=num_classes, pretrained=pretrained)


def no_pretrained_weights(name: str) -> UserError:
    return UserError(f"model '{name}' is built in and has no pretrained weights; "
                     "train it from scratch or load a checkpoint")
