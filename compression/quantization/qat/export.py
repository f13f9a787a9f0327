"""What a QAT model hands on to real int8 conversion: its activation ranges, its quantized weights, a plain model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from ...core.errors import UserError
from .layers import quantized_modules, release_state_hooks, uninstall
from .tensor_quantizers import TensorQuantizer


def carries_quantizers(model: nn.Module) -> bool:
    """Whether QAT quantizers are installed on the model (its weights, its activations or its input)."""
    return any(hasattr(module, attr) for module in model.modules() for attr in ("_qat", "_qat_input"))


def binary_activations(model: nn.Module) -> List[str]:
    """Names of the modules whose outputs are quantized to 1 bit."""
    return [name for name, module in model.named_modules()
            if getattr(getattr(getattr(module, "_qat", None), "output_fn", None), "bits", None) == 1]


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


def int8_bit_changes(model: nn.Module) -> Dict[str, str]:
    """module name -> how the int8 model computes other values than the QAT model there (its bits are not 8);
    '' is the model's input. 1-bit weights are left out: they are two integers per channel, exact in int8."""
    changes = {}
    for name, module in model.named_modules():
        for attr in ("_qat", "_qat_input"):
            layer = getattr(module, attr, None)
            weight_bits = getattr(getattr(layer, "weight_fn", None), "bits", 8)
            output_bits = getattr(getattr(layer, "output_fn", None), "bits", 8)
            found = []
            if weight_bits not in (1, 8):
                found.append(f"{weight_bits}-bit weights are stored as int8 on a per-channel scale of their own, "
                             f"not on their {weight_bits}-bit grid")
            if output_bits != 8:
                found.append(f"{output_bits}-bit {'input' if attr == '_qat_input' else 'outputs'} are rounded to "
                             f"8-bit steps of the learned range, not to the {2 ** output_bits} levels trained")
            if found:
                changes[name] = "; ".join(found)
    return changes


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


@dataclass(frozen=True)
class StoredQuantized(TensorQuantizer):
    """A weight stored as the values its quantizer computed (a packed file): used as it is, so the model
    computes exactly what the QAT model did (quantizing those values again may move them by rounding)."""

    def __call__(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return x


def mark_weights_quantized(model: nn.Module, names: List[str]) -> None:
    """The named layers' weights already hold their quantized values: their weight quantizers pass them on."""
    for name in names:
        layer = getattr(_submodule(model, name), "_qat", None)
        if layer is None or layer.weight_fn is None:
            raise UserError(f"the record says layer '{name}' holds quantized weights, but it has no weight quantizer: "
                            "the file is damaged or was not written by compressor")
        layer.weight_fn = StoredQuantized(layer.weight_fn.bits)


def _submodule(model: nn.Module, name: str) -> Optional[nn.Module]:
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None
