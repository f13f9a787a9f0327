"""Models by name: small built-in ones and every torchvision classifier."""
from . import digits, fashion, resnet_cifar, simplenet, torchvision_zoo  # noqa: F401  (registration)
from .registry import MODELS, ModelInfo, build_model, model_info

__all__ = ["MODELS", "ModelInfo", "build_model", "model_info"]
