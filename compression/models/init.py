"""Weight initialisation shared by the built-in models (Distiller's, for its zoo's networks)."""
from __future__ import annotations

import math

from torch import nn


def he_fan_out_init(model: nn.Module, linear_std: float = 0.0) -> None:
    """Convolutions ~ N(0, 2 / fan-out) (He et al.), BatchNorm to identity; with `linear_std`,
    Linear weights ~ N(0, linear_std) and zero biases (Linear layers are left as built otherwise)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear) and linear_std:
            nn.init.normal_(module.weight, 0.0, linear_std)
            nn.init.zeros_(module.bias)
