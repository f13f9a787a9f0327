"""What a QAT model hands on to real int8 conversion: its activation ranges, its quantized weights, a plain model."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import nn

from .layers import quantized_modules, release_state_hooks, uninstall


def qat_activation_ranges(model: nn.Module) -> Dict[str, Tuple[float, float]]:
    """module name -> (min, max) its fake-quantized output covers; '' is the model's input."""
    ranges = {}
    for name, module in model.named_modules():
        for attr in ("_qat", "_qat_input"):
            layer = getattr(module, attr, None)
            fn = getattr(layer, "output_fn", None)
            if fn is not None and hasattr(fn, "value_range"):
                ranges[name] = fn.value_range(module)
    return ranges


@torch.no_grad()
def quantized_weight(module: nn.Module) -> Optional[torch.Tensor]:
    """The weight a quantized Conv/Linear uses in its forward pass (None for a module left in FP32)."""
    layer = getattr(module, "_qat", None)
    if layer is None or layer.weight_fn is None:
        return None
    was_enabled, layer.switch.enabled = layer.switch.enabled, True
    try:
        return layer.weight(module).detach().clone()
    finally:
        layer.switch.enabled = was_enabled


def remove_quantizers(model: nn.Module) -> nn.Module:
    """Restore plain modules (trained FP32 weights, original forward, no `qat_` state), in place."""
    for _, module, _ in quantized_modules(model):
        uninstall(module)
    uninstall(model)
    release_state_hooks(model)
    return model
