"""The model registry: what each model is (input shape, classes, data) and how to build it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from ..core.errors import UserError
from ..core.registry import Registry
from .imported import imported_entry, is_import_path
from .timm_zoo import is_timm_name, timm_entry

if TYPE_CHECKING:  # the registry is read without torch when a schedule is checked
    import torch

MODELS = Registry("model", "models")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    input_shape: Tuple[int, int, int]
    num_classes: int
    default_dataset: str
    description: str


def model_entry(name: str):
    """A registered model, one given by import path (`package.module:factory`) or a timm model (`timm/<name>`)."""
    if is_import_path(name):
        return imported_entry(name)
    if is_timm_name(name):
        return timm_entry(name)
    return MODELS.get(name)


def checked_when_built(name: str) -> bool:
    """Names the registry does not list: an import path or a timm model (known once its package is imported)."""
    return is_import_path(name) or is_timm_name(name)


def model_info(name: str, input_shape: Optional[Sequence[int]] = None,
               num_classes: Optional[int] = None) -> ModelInfo:
    """What a model expects and produces; `input_shape` and `num_classes` override the model's own.

    Unknown names raise UserError, as does an imported model whose input shape is given nowhere.
    """
    entry = model_entry(name)
    shape = tuple(input_shape) if input_shape else entry.extra["input_shape"]
    if shape is None:
        raise UserError(f"model '{name}': its input shape is unknown: set `input_shape = (C, H, W)` on "
                        f"{name.partition(':')[2] or name} or give --input-size C,H,W")
    return ModelInfo(
        name=entry.name,
        input_shape=tuple(shape),
        num_classes=num_classes or _default_classes(entry),
        default_dataset=entry.extra["default_dataset"],
        description=entry.description,
    )


def build_model(name: str, num_classes: Optional[int] = None, pretrained: bool = False,
                input_shape: Optional[Sequence[int]] = None) -> torch.nn.Module:
    """A fresh model; `num_classes` defaults to the model's own class count.

    `input_shape` (C, H, W) is the shape it will be fed, for models built for one (timm's ViTs);
    other models take any and ignore it.
    """
    entry = model_entry(name)
    if num_classes is None:
        num_classes = _default_classes(entry)
    # bool is an int subclass, but `num_classes: true` is a mistake
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise UserError(f"model '{name}': num_classes must be a positive integer, got {num_classes!r}")
    shape = {"input_shape": tuple(input_shape)} if input_shape and entry.extra.get("takes_input_shape") else {}
    return entry.factory(num_classes=num_classes, pretrained=pretrained, **shape)


def _default_classes(entry) -> int:
    classes = entry.extra["num_classes"]
    return classes() if callable(classes) else classes


def no_pretrained_weights(name: str) -> UserError:
    return UserError(f"model '{name}' is built in and has no pretrained weights; "
                     "train it from scratch or load a checkpoint")
