"""Which bits each layer gets: the quantizer's defaults, or the first `overrides:` regex that matches it."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Dict, Iterable, Optional, Tuple

from torch import nn

from ...core.errors import UserError

_FIELDS = ("bits_activations", "bits_weights", "bits_bias")


@dataclass(frozen=True)
class Bits:
    activations: Optional[int]
    weights: Optional[int]
    bias: Optional[int]


FP32 = Bits(None, None, None)


def _matches(pattern: str, name: str) -> bool:
    """Distiller anchors its regexes; DataParallel's 'module.' prefix is optional."""
    return any(re.fullmatch(pattern, candidate) for candidate in (name, f"module.{name}"))


def check_overrides(model: nn.Module, patterns: Iterable[str]) -> None:
    names = [name for name, _ in model.named_modules() if name]
    for pattern in patterns:
        if not any(_matches(pattern, name) for name in names):
            raise UserError(f"overrides: '{pattern}' matches no module of the model "
                            f"(modules: {', '.join(names)})")


def bits_for(name: str, config) -> Bits:
    """The layer's bits: the first matching override (null: FP32), else the quantizer's."""
    default = Bits(config.bits_activations, config.bits_weights, config.bits_bias)
    for pattern, override in config.overrides.items():
        if _matches(pattern, name):
            if override is None:
                return FP32
            changes = {field.split("_", 1)[1]: getattr(override, field)
                       for field in _FIELDS if field in override.model_fields_set}
            return replace(default, **changes)
    return default


def layer_plan(model: nn.Module, config, types: Tuple[type, ...]) -> Dict[str, Tuple[nn.Module, Bits]]:
    """name -> (module, bits) of every module of `types`, in module order."""
    check_overrides(model, config.overrides)
    return {name: (module, bits_for(name, config)) for name, module in model.named_modules()
            if isinstance(module, types)}
