"""Fake quantization installed in place on a module: parameter names and state_dict keys stay as they were.

A Conv/Linear module gets an instance `forward` that uses its fake-quantized weight (and bias);
an activation module gets a forward hook that fake-quantizes its output. State a quantizer adds
(learned clipping values, step sizes, moving-average ranges) is registered on the module under
names starting with `qat_`, kept out of `state_dict()` (the quantizer's policy saves it instead),
so masks, optimizers and every command that loads a plain model keep working.
"""
from __future__ import annotations

import types
from typing import Callable, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

PREFIX = "qat_"
CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
WEIGHT_TYPES = CONV_TYPES + (nn.Linear,)

TensorFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]


class Switch:
    """Shared by every layer of one quantizer: off until its policy's first epoch."""

    def __init__(self):
        self.enabled = False


class LayerQuant:
    """One module's weight, bias and output quantization (each None: left in FP32)."""

    def __init__(self, switch: Switch, weight: Optional[TensorFn] = None, bias: Optional[TensorFn] = None,
                 output: Optional[TensorFn] = None):
        self.switch = switch
        self.weight_fn, self.bias_fn, self.output_fn = weight, bias, output
        self.handles: list = []

    def weight(self, module: nn.Module) -> torch.Tensor:
        return self._apply(self.weight_fn, module, module.weight)

    def bias(self, module: nn.Module) -> Optional[torch.Tensor]:
        return None if module.bias is None else self._apply(self.bias_fn, module, module.bias)

    def output_hook(self, module: nn.Module, inputs, output):
        return self._apply(self.output_fn, module, output)

    def input_hook(self, module: nn.Module, inputs):
        return (self._apply(self.output_fn, module, inputs[0]),) + tuple(inputs[1:])

    def _apply(self, fn: Optional[TensorFn], module: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
        if fn is None or not self.switch.enabled or not torch.is_floating_point(tensor):
            return tensor
        return fn(module, tensor)


def _conv_forward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return module._conv_forward(x, module._qat.weight(module), module._qat.bias(module))


def _linear_forward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, module._qat.weight(module), module._qat.bias(module))


def install(module: nn.Module, layer: LayerQuant) -> None:
    """Put `layer` on `module`: weights through a patched forward, outputs through a hook."""
    if hasattr(module, "_qat"):
        raise ValueError("module is already quantized")
    module._qat = layer
    if layer.weight_fn is not None or layer.bias_fn is not None:
        forward = _conv_forward if isinstance(module, CONV_TYPES) else _linear_forward
        module.forward = types.MethodType(forward, module)
    if layer.output_fn is not None:
        layer.handles.append(module.register_forward_hook(layer.output_hook))


def install_input(model: nn.Module, layer: LayerQuant) -> None:
    """Fake-quantize the model's input (its first positional argument)."""
    model._qat_input = layer
    layer.handles.append(model.register_forward_pre_hook(layer.input_hook))


def uninstall(module: nn.Module) -> None:
    """The module as it was, but for its trained weights."""
    for attr in ("_qat", "_qat_input"):
        layer = module.__dict__.pop(attr, None)
        if layer is not None:
            for handle in layer.handles:
                handle.remove()
    module.__dict__.pop("forward", None)
    for name in [n for n in list(module._parameters) + list(module._buffers) if n.startswith(PREFIX)]:
        delattr(module, name)


def quantized_modules(model: nn.Module):
    """(name, module, LayerQuant) of every module carrying fake quantization."""
    return [(name, module, module._qat) for name, module in model.named_modules() if hasattr(module, "_qat")]


def keep_qat_state_out(model: nn.Module) -> None:
    """`qat_` parameters neither appear in state_dict() nor are missed by load_state_dict()."""
    if getattr(model, "_qat_state_hooks", None):
        return
    model._qat_state_hooks = [model.register_state_dict_post_hook(_drop_qat_keys),
                              model.register_load_state_dict_post_hook(_forgive_missing_qat_keys)]


def release_state_hooks(model: nn.Module) -> None:
    for handle in model.__dict__.pop("_qat_state_hooks", []):
        handle.remove()


def is_qat_key(key: str) -> bool:
    return key.rsplit(".", 1)[-1].startswith(PREFIX)


def _drop_qat_keys(module, state_dict, prefix, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix) and is_qat_key(k)]:
        del state_dict[key]


def _forgive_missing_qat_keys(module, incompatible_keys) -> None:
    incompatible_keys.missing_keys[:] = [k for k in incompatible_keys.missing_keys if not is_qat_key(k)]


def new_parameter(module: nn.Module, name: str, value: torch.Tensor) -> nn.Parameter:
    param = nn.Parameter(value)
    module.register_parameter(PREFIX + name, param)
    return param


def new_buffer(module: nn.Module, name: str, value: torch.Tensor) -> None:
    module.register_buffer(PREFIX + name, value, persistent=False)


def learned(module: nn.Module) -> List[nn.Parameter]:
    return [p for n, p in module._parameters.items() if n.startswith(PREFIX) and p is not None]
