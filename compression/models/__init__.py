"""Models by name: built-in ones (Distiller's model zoo among them) and every torchvision classifier
(registered by compression.builtins), every timm model as `timm/<name>`, your own by import path."""
from ..core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "MODELS": ".registry",
    "ModelInfo": ".registry",
    "build_model": ".registry",
    "checked_when_built": ".registry",
    "model_info": ".registry",
})
__all__ = sorted(__dir__())
