"""What every QAT quantizer shares: it installs itself on the model when built, its policy switches it on.

Installing at build time (before a resumed run loads its checkpoint) gives the learned parameters
their optimizer group in the same place every time, so optimizer state and policy state load back.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from ...core.components import BuildContext
from ...core.errors import UserError
from ...policies import Policy, StepContext
from .layers import PREFIX, WEIGHT_TYPES, LayerQuant, Switch, install, install_input, keep_qat_state_out, learned
from .overrides import Bits, check_activations_reached, layer_plan
from .tensor_quantizers import BinaryWeight, RangeLinearWeight, TensorQuantizer

ACTIVATION_TYPES = (nn.ReLU, nn.ReLU6)


# what torch's lr schedulers keep in each param group (OneCycleLR's max_lr, ...): they read it from every group
_LR_SCHEDULER_KEYS = ("initial_lr", "max_lr", "min_lr", "base_momentum", "max_momentum")


def _joining_lr_scheduler(optimizer: torch.optim.Optimizer, group: Dict[str, Any]) -> Dict[str, Any]:
    """The learned parameters' group, joining an lr scheduler already built on the optimizer (a loop's OneCycleLR,
    LinearLR): it takes the first group's current lr and scheduler settings. With the optimizer's default lr and
    none of them, OneCycleLR fails on the group (KeyError 'initial_lr') and LinearLR scales the wrong lr."""
    first = optimizer.param_groups[0] if optimizer.param_groups else {}
    if "initial_lr" not in first:  # no lr scheduler yet: one built later sets the group up itself
        return group
    settings = {key: first[key] for key in _LR_SCHEDULER_KEYS if key in first}
    return {**settings, "lr": first["lr"], **group}


class QATQuantizer:
    """Fake-quantizes Conv/Linear weights and activation-module outputs of `context.model`."""

    activation_types = ACTIVATION_TYPES

    def __init__(self, config, context: BuildContext):
        self.config = config
        self.context = context
        self.switch = Switch()
        self.modules: Dict[str, nn.Module] = {}
        learned_params = self._install_layers()
        learned_params += self._install_input()
        keep_qat_state_out(context.model)
        if learned_params:
            group = _joining_lr_scheduler(context.optimizer, self.param_group(learned_params))
            context.optimizer.add_param_group(group)

    # what a subclass chooses ----------------------------------------------------------------------
    def weight_quantizer(self, bits: int) -> TensorQuantizer:
        raise NotImplementedError

    def activation_quantizer(self, bits: int) -> TensorQuantizer:
        raise NotImplementedError

    def input_quantizer(self) -> Optional[TensorQuantizer]:
        return None

    def param_group(self, params: List[nn.Parameter]) -> Dict[str, Any]:
        return {"params": params, "weight_decay": 0.0}

    # installation ---------------------------------------------------------------------------------
    def layer_plan(self) -> Dict[str, Tuple[nn.Module, Bits]]:
        """name -> (module, bits) of every Conv/Linear and activation module."""
        return layer_plan(self.context.model, self.config, WEIGHT_TYPES + self.activation_types)

    def _install_layers(self) -> List[nn.Parameter]:
        params: List[nn.Parameter] = []
        plan = self.layer_plan()
        check_activations_reached(self.context.model, self.config, self.activation_types)
        for name, (module, bits) in plan.items():
            layer = self._layer_for(module, bits)
            if layer is None:
                continue
            if hasattr(module, "_qat"):
                raise UserError(f"layer '{name}' is already quantized by another quantizer")
            params += self._setup(module, layer)
            install(module, layer)
            self.modules[name] = module
        return params

    def _layer_for(self, module: nn.Module, bits: Bits) -> Optional[LayerQuant]:
        if isinstance(module, WEIGHT_TYPES):
            weight = self._weight_quantizer(bits.weights) if bits.weights else None
            bias = RangeLinearWeight(bits.bias) if bits.bias and module.bias is not None else None
            return LayerQuant(self.switch, weight=weight, bias=bias) if weight or bias else None
        if bits.activations:
            return LayerQuant(self.switch, output=self.activation_quantizer(bits.activations))
        return None

    def _weight_quantizer(self, bits: int) -> TensorQuantizer:
        """1 bit is BWN in every quantizer: their own formulas have a single level (LSQ, range-linear), none
        (WRPN) or no scale (DoReFa) at 1 bit."""
        return BinaryWeight() if bits == 1 else self.weight_quantizer(bits)

    def _install_input(self) -> List[nn.Parameter]:
        quantizer = self.input_quantizer()
        if quantizer is None:
            return []
        model = self.context.model
        if hasattr(model, "_qat_input"):
            raise UserError("the model's input is already quantized by another quantizer")
        layer = LayerQuant(self.switch, output=quantizer)
        params = self._setup(model, layer)
        install_input(model, layer)
        self.modules[""] = model
        return params

    def _setup(self, module: nn.Module, layer: LayerQuant) -> List[nn.Parameter]:
        params = []
        for fn in (layer.weight_fn, layer.bias_fn, layer.output_fn):
            if fn is not None:
                params += fn.setup(module, self.context.device)
        return params

    # runtime --------------------------------------------------------------------------------------
    def enable(self) -> None:
        self.switch.enabled = True

    def learned_parameters(self) -> List[nn.Parameter]:
        return [p for module in self.modules.values() for p in learned(module)]

    def policy(self, spec) -> "QATPolicy":
        return QATPolicy(self)

    def state_dict(self) -> Dict[str, Any]:
        return {"enabled": self.switch.enabled, "tensors": self._tensors()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.switch.enabled = bool(state.get("enabled", False))
        mine = self._live_tensors()
        with torch.no_grad():
            for key, value in state.get("tensors", {}).items():
                if key in mine:
                    mine[key].copy_(value)

    def _live_tensors(self) -> Dict[str, torch.Tensor]:
        found = {}
        for module_name, module in self.modules.items():
            for name, tensor in list(module._parameters.items()) + list(module._buffers.items()):
                if name.startswith(PREFIX) and tensor is not None:
                    found[f"{module_name}.{name}" if module_name else name] = tensor
        return found

    def _tensors(self) -> Dict[str, torch.Tensor]:
        return {key: tensor.detach().cpu().clone() for key, tensor in self._live_tensors().items()}


class QATPolicy(Policy):
    """From the policy's first due epoch on, the model trains (and is evaluated) fake-quantized."""

    def __init__(self, quantizer: QATQuantizer):
        self.quantizer = quantizer

    def on_epoch_begin(self, ctx: StepContext) -> None:
        self.quantizer.enable()

    def state_dict(self) -> Dict[str, Any]:
        return self.quantizer.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.quantizer.load_state_dict(state)
