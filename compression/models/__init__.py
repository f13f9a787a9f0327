"""Models by name: built-in ones (Distiller's model zoo among them) and every torchvision classifier."""
from . import digits, fashion, resnet_cifar, simplenet, torchvision_zoo  # noqa: F401  (registration)
from . import earlyexit  # noqa: F401  (registration)
from . import alexnet_bn, mobilenet_v1, plain_cifar, preact_resnet, preact_resnet_cifar  # noqa: F401  (registration)
from . import resnext_cadene, simplenet_cifar, vgg_cifar  # noqa: F401  (registration)
from .registry import MODELS, ModelInfo, build_model, model_info

__all__ = ["MODELS", "ModelInfo", "build_model", "model_info"]
