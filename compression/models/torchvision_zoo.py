"""Every torchvision classification model, by name, with weights from the local torch cache only."""
from __future__ import annotations

import os
import re
from functools import partial
from typing import Any, Dict

import torch
import torchvision
from torch import nn

from ..core.errors import UserError
from .registry import MODELS

# Models whose pretrained builder changes the architecture to match the checkpoint.
_AUX_MODELS = ("inception_v3", "googlenet")
_INPUT_SIZES = {"inception_v3": 299}
_MAX_DETAIL = 600

# Older densenet checkpoints name layers `norm.1`; the modules are now `norm1`.
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def classification_models() -> list:
    """torchvision's classification models (not detection, segmentation, video, ...)."""
    return torchvision.models.list_models(module=torchvision.models)


def weights_path(weights: Any) -> str:
    """Where torch.hub keeps (and we look for) a checkpoint."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


def _scratch_kwargs(name: str, num_classes: int) -> Dict[str, Any]:
    kwargs: Dict[str, Any] = {"num_classes": num_classes}
    if name in _AUX_MODELS:
        # without auxiliary heads forward() returns a tensor in training mode too
        kwargs.update(aux_logits=False, init_weights=True)
    return kwargs


def _pretrained_kwargs(name: str, weights: Any) -> Dict[str, Any]:
    """The constructor arguments torchvision's builder uses with these weights."""
    kwargs: Dict[str, Any] = {"num_classes": len(weights.meta["categories"])}
    if name in _AUX_MODELS:
        kwargs.update(transform_input=True, aux_logits=True, init_weights=False)
    elif name.startswith("vit_"):
        kwargs["image_size"] = weights.meta["min_size"][0]
    elif name.startswith("maxvit_"):
        kwargs["input_size"] = weights.meta["min_size"]
    return kwargs


def _rename_old_keys(state_dict: Dict[str, Any]) -> Dict[str, Any]:
    renamed = {}
    for key, value in state_dict.items():
        match = _DENSENET_OLD_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


def _drop_aux_heads(model: nn.Module) -> None:
    model.aux_logits = False
    for attr in ("AuxLogits", "aux1", "aux2"):
        if hasattr(model, attr):
            setattr(model, attr, None)


def _load_cached(name: str, weights: Any) -> Dict[str, Any]:
    path = weights_path(weights)
    if not os.path.isfile(path):
        raise UserError(
            f"pretrained weights for model '{name}' not found: expected {path}. "
            f"Weights are never downloaded; copy {os.path.basename(path)} (from {weights.url}) "
            f"into {os.path.dirname(path)}, or set TORCH_HOME to a folder whose checkpoints/ holds it")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(f"pretrained weights for model '{name}' at {path} could not be read: {error}") from None


def _pretrained(name: str, num_classes: int) -> nn.Module:
    weights = torchvision.models.get_model_weights(name).DEFAULT
    classes = len(weights.meta["categories"])
    if num_classes != classes:
        raise UserError(f"model '{name}': pretrained weights have {classes} classes, not {num_classes}; "
                        "build it with its own class count, then replace the classifier")
    state_dict = _rename_old_keys(_load_cached(name, weights))
    model = torchvision.models.get_model(name, weights=None, **_pretrained_kwargs(name, weights))
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        detail = str(error)[:_MAX_DETAIL]
        raise UserError(f"pretrained weights for model '{name}' at {weights_path(weights)} "
                        f"do not fit the model: {detail}") from None
    if name in _AUX_MODELS:
        _drop_aux_heads(model)
    return model


def build(name: str, num_classes: int, pretrained: bool) -> nn.Module:
    if pretrained:
        return _pretrained(name, num_classes)
    return torchvision.models.get_model(name, weights=None, **_scratch_kwargs(name, num_classes))


def _register_all() -> None:
    for name in classification_models():
        size = _INPUT_SIZES.get(name, 224)
        MODELS.add(name, partial(build, name), description="torchvision classification model",
                   input_shape=(3, size, size), num_classes=1000, default_dataset="imagenet")


_register_all()
