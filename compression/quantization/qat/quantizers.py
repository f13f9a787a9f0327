"""The QAT quantizers by their Distiller names, plus LSQ and BinaryQuantizer."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

from torch import nn

from ...core.components import QUANTIZERS
from .base import QATQuantizer
from .configs import BinaryConfig, LSQConfig, PACTConfig, QATConfig, RangeLinearQATConfig
from .layers import WEIGHT_TYPES
from .overrides import Bits, first_match
from .tensor_quantizers import (
    BinaryActivation,
    ClippedUnitActivation,
    DorefaWeight,
    EMAActivation,
    LSQTensor,
    PACTActivation,
    RangeLinearWeight,
    TensorQuantizer,
    WRPNWeight,
)


@QUANTIZERS.register("QuantAwareTrainRangeLinearQuantizer", config=RangeLinearQATConfig,
                     description="QAT: linear fake quantization, activation ranges by moving average, STE.")
class QuantAwareTrainRangeLinearQuantizer(QATQuantizer):
    def weight_quantizer(self, bits: int) -> TensorQuantizer:
        return RangeLinearWeight(bits, self.config.mode.weights, self.config.per_channel_wts)

    def activation_quantizer(self, bits: int) -> TensorQuantizer:
        if bits == 1:  # a min/max range has no meaningful single level: the L2-nearest one instead
            return BinaryActivation(decay=self.config.ema_decay)
        return EMAActivation(bits, self.config.mode.activations, self.config.ema_decay)

    def input_quantizer(self) -> Optional[TensorQuantizer]:
        bits = self.config.num_bits_inputs or self.config.bits_activations
        if not self.config.quantize_inputs or bits is None:
            return None
        return EMAActivation(bits, self.config.mode.activations, self.config.ema_decay, name="in")


@QUANTIZERS.register("DorefaQuantizer", config=QATConfig,
                     description="QAT: DoReFa-Net tanh-normalized weights, activations clipped to [0, 1].")
class DorefaQuantizer(QATQuantizer):
    def weight_quantizer(self, bits: int) -> TensorQuantizer:
        return DorefaWeight(bits)

    def activation_quantizer(self, bits: int) -> TensorQuantizer:
        return ClippedUnitActivation(bits)


@QUANTIZERS.register("PACTQuantizer", config=PACTConfig,
                     description="QAT: activations clipped by a learned alpha per layer (PACT), DoReFa weights.")
class PACTQuantizer(DorefaQuantizer):
    def activation_quantizer(self, bits: int) -> TensorQuantizer:
        return PACTActivation(bits, self.config.act_clip_init_val)

    def param_group(self, params: List[nn.Parameter]) -> Dict[str, Any]:
        group: Dict[str, Any] = {"params": params}
        if self.config.act_clip_decay is not None:
            group["weight_decay"] = self.config.act_clip_decay
        return group


@QUANTIZERS.register("WRPNQuantizer", config=QATConfig,
                     description="QAT: weights clamped to [-1, 1] (bits-1 magnitude bits), activations to [0, 1].")
class WRPNQuantizer(QATQuantizer):
    def weight_quantizer(self, bits: int) -> TensorQuantizer:
        return WRPNWeight(bits)

    def activation_quantizer(self, bits: int) -> TensorQuantizer:
        return ClippedUnitActivation(bits)


@QUANTIZERS.register("LSQQuantizer", config=LSQConfig,
                     description="QAT: learned step size per layer for weights and activations (Esser et al.).")
class LSQQuantizer(QATQuantizer):
    def weight_quantizer(self, bits: int) -> TensorQuantizer:
        return LSQTensor(bits, signed=True, per_channel=self.config.per_channel_wts, name="weight")

    def activation_quantizer(self, bits: int) -> TensorQuantizer:
        return LSQTensor(bits, signed=False, name="out")


@QUANTIZERS.register("BinaryQuantizer", config=BinaryConfig,
                     description="QAT: 1-bit weights (sign x mean |w| per channel, BWN), FP32 or 1-bit activations; "
                                 "first and last layers 8-bit.")
class BinaryQuantizer(QATQuantizer):
    """BWN / XNOR-Net: binary weights, optionally binary activations; the first and last layers keep
    `first_last_bits_weights`, as both papers keep them precise."""

    def layer_plan(self) -> Dict[str, Tuple[nn.Module, Bits]]:
        plan = super().layer_plan()
        layers = [name for name, (module, _) in plan.items() if isinstance(module, WEIGHT_TYPES)]
        overrides = self.config.overrides
        for name in dict.fromkeys(layers[:1] + layers[-1:]):
            pattern = first_match(name, overrides)
            if pattern is None or (overrides[pattern] is not None
                                   and "bits_weights" not in overrides[pattern].model_fields_set):
                module, bits = plan[name]
                plan[name] = (module, replace(bits, weights=self.config.first_last_bits_weights))
        return plan

    def weight_quantizer(self, bits: int) -> TensorQuantizer:
        return RangeLinearWeight(bits, "SYMMETRIC", per_channel=True)

    def activation_quantizer(self, bits: int) -> TensorQuantizer:
        if bits == 1:
            return BinaryActivation(decay=self.config.ema_decay)
        return EMAActivation(bits, "ASYMMETRIC_UNSIGNED", self.config.ema_decay)
