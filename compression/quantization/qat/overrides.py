"""Which bits each layer gets: the quantizer's defaults, or the `overrides:` entry named for it (its exact name,
else the first regex that matches it)."""
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


def first_match(name: str, overrides) -> Optional[str]:
    """The `overrides:` pattern that decides the layer's bits (None: the quantizer's own): as Distiller, a key
    that is exactly the layer's name wins over every regex, else the first regex that matches it."""
    exact = next((key for key in (name, f"module.{name}") if key in overrides), None)
    return exact or next((pattern for pattern in overrides if _matches(pattern, name)), None)


def bits_for(name: str, config) -> Bits:
    """The layer's bits: the first matching override (null: FP32), else the quantizer's."""
    default = Bits(config.bits_activations, config.bits_weights, config.bits_bias)
    pattern = first_match(name, config.overrides)
    if pattern is None:
        return default
    override = config.overrides[pattern]
    if override is None:
        return FP32
    changes = {field.split("_", 1)[1]: getattr(override, field)
               for field in _FIELDS if field in override.model_fields_set}
    return replace(default, **changes)


def layer_plan(model: nn.Module, config, types: Tuple[type, ...]) -> Dict[str, Tuple[nn.Module, Bits]]:
    """name -> (module, bits) of every module of `types`, in module order."""
    check_overrides(model, config.overrides)
    return {name: (module, bits_for(name, config)) for name, module in model.named_modules()
            if isinstance(module, types)}


def check_activations_reached(model: nn.Module, config, activation_types: Tuple[type, ...]) -> None:
    """Activations are quantized at the outputs of activation modules: a request that reaches none (a model
    whose activations are all functional calls, an override asking 1 bit of a Conv) is refused, not ignored."""
    kinds = ", ".join(kind.__name__ for kind in activation_types)
    modules = dict(model.named_modules())
    activations = [name for name, module in modules.items() if name and isinstance(module, activation_types)]
    if config.bits_activations is not None and not activations:
        raise UserError(f"bits_activations: {config.bits_activations} quantizes the outputs of activation modules "
                        f"({kinds}), and the model has none (calls such as F.relu or torch.relu are not modules): "
                        "use activation modules, or set bits_activations: null to quantize the weights alone")
    for pattern, override in config.overrides.items():
        if override is None or override.bits_activations != 1:
            continue
        decided = [name for name in modules if name and first_match(name, config.overrides) == pattern]
        if not any(name in activations for name in decided):
            applies = ", ".join(f"{name} ({type(modules[name]).__name__})" for name in decided[:6])
            raise UserError(f"overrides: '{pattern}' asks for 1-bit activations, which only the outputs of "
                            f"activation modules ({kinds}) can have, but it applies to {applies or 'no module'}; "
                            f"the model's activation modules: {', '.join(activations) or 'none'}")
