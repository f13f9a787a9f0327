"""Typed arguments of the quantization-aware-training quantizers, as Distiller's schedules write them."""
from __future__ import annotations

from typing import Dict, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import Annotated

from ...core.regexes import check_regexes

Bits = Annotated[int, Field(ge=2, le=16)]
BinaryBits = Annotated[int, Field(ge=1, le=16)]  # 1: binary (weights and activation outputs only)
MODES = ("SYMMETRIC", "SYMMETRIC_RESTRICTED", "ASYMMETRIC_UNSIGNED", "ASYMMETRIC_SIGNED")


def check_mode(value: str) -> str:
    name = str(value).upper()
    if name not in MODES:
        raise ValueError(f"unknown mode '{value}' (one of {', '.join(MODES)})")
    return name


class ModeMap(BaseModel):
    """Distiller's `mode: {activations: ..., weights: ...}`."""

    model_config = ConfigDict(extra="forbid")

    activations: str = Field("SYMMETRIC", description="Mode of the activations.")
    weights: str = Field("SYMMETRIC", description="Mode of the weights.")

    @field_validator("activations", "weights")
    @classmethod
    def _known(cls, value):
        return check_mode(value)


BINARY_WEIGHTS = ("1: sign(w) times the mean |w| of its output channel (BWN, XNOR-Net; pruned zeros stay 0), in "
                  "every quantizer; the gradient passes the sign straight through where |w| <= 1 and is cancelled "
                  "where |w| > 1.")
BINARY_ACTIVATIONS = ("1 (only on activation modules, ReLU and ReLU6): {0, alpha}, alpha where the output exceeds "
                      "alpha / 2, straight-through gradient inside (0, alpha); alpha is 1 for DoReFa and WRPN, "
                      "PACT's learned clipping value, LSQ's learned step, and for range-linear and BinaryQuantizer "
                      "a moving average of the level nearest the outputs in L2 (the mean of those above alpha / 2).")


class LayerBits(BaseModel):
    """One `overrides:` entry; a field left out keeps the quantizer's value."""

    model_config = ConfigDict(extra="forbid")

    bits_activations: Optional[BinaryBits] = Field(
        None, description=f"Bits of the layer's output, 1..16 (null: FP32). {BINARY_ACTIVATIONS}")
    bits_weights: Optional[BinaryBits] = Field(
        None, description=f"Bits of the layer's weight, 1..16 (null: FP32). {BINARY_WEIGHTS}")
    bits_bias: Optional[Bits] = Field(None, description="Bits of the layer's bias, 2..16 (null: FP32).")


class QATConfig(BaseModel):
    """What every QAT quantizer takes."""

    model_config = ConfigDict(extra="forbid")

    bits_activations: Optional[BinaryBits] = Field(
        8, description=f"Bits of activations, 1..16 (null: FP32). {BINARY_ACTIVATIONS}")
    bits_weights: Optional[BinaryBits] = Field(
        8, description=f"Bits of Conv/Linear weights, 1..16 (null: FP32). {BINARY_WEIGHTS}")
    bits_bias: Optional[Bits] = Field(None, description="Bits of Conv/Linear biases, 2..16 (null: FP32).")
    overrides: Dict[str, Optional[LayerBits]] = Field(
        {},
        description="Module-name regex -> bits for the layers it matches: a key that is a layer's exact name wins, "
        "else the first regex that matches, in order; null: FP32.")

    @field_validator("overrides")
    @classmethod
    def _regexes_compile(cls, overrides):
        check_regexes(overrides)
        return overrides


class RangeLinearQATConfig(QATConfig):
    mode: ModeMap = Field("SYMMETRIC", validate_default=True,
                          description=f"{', '.join(MODES)}, or {{activations: MODE, weights: MODE}}.")
    per_channel_wts: bool = Field(False, description="One weight range per output channel.")
    quantize_inputs: bool = Field(True, description="Fake-quantize the model's input too.")
    num_bits_inputs: Optional[Bits] = Field(
        None, description="Bits of the model's input, 2..16 (default: bits_activations, which must then be 2 or more).")
    ema_decay: float = Field(0.999, gt=0.0, lt=1.0,
                             description="Decay of the moving averages of the activation ranges (and 1-bit levels).")

    @model_validator(mode="after")
    def _input_is_not_binary(self):
        """A signed image is not an activation module's output: {0, alpha} would drop its negative half."""
        if self.quantize_inputs and self.num_bits_inputs is None and self.bits_activations == 1:
            raise ValueError("the model's input cannot be quantized to 1 bit (only activation modules' outputs "
                             "can): set num_bits_inputs (2..16) or quantize_inputs: false")
        return self

    @field_validator("mode", mode="before", json_schema_input_type=Union[str, ModeMap])
    @classmethod
    def _one_mode_for_both(cls, value):
        """`mode: SYMMETRIC` stands for the same mode for activations and weights."""
        if isinstance(value, str):
            mode = check_mode(value)
            return {"activations": mode, "weights": mode}
        return value


class PACTConfig(QATConfig):
    act_clip_init_val: float = Field(8.0, gt=0.0, description="Initial clipping value alpha of every layer.")
    act_clip_decay: Optional[float] = Field(None, ge=0.0,
                                            description="L2 weight decay of alpha (default: the optimizer's).")


class LSQConfig(QATConfig):
    per_channel_wts: bool = Field(False, description="One learned weight step size per output channel.")


class BinaryConfig(QATConfig):
    bits_activations: Optional[BinaryBits] = Field(
        None, description="Bits of activations (null, the default: FP32, as BWN). 1 (XNOR-Net style, only on "
                          "activation modules, ReLU and ReLU6): {0, alpha}, alpha where the output exceeds alpha / 2, "
                          "straight-through gradient inside (0, alpha), alpha a moving average of the level nearest "
                          "the outputs in L2 (the mean of those above alpha / 2). 2..16: unsigned range-linear, moving "
                          "average range.")
    bits_weights: Optional[BinaryBits] = Field(
        1, description=f"Bits of Conv/Linear weights (null: FP32), 1 by default. {BINARY_WEIGHTS} 2..16: symmetric "
                       "range-linear per output channel.")
    first_last_bits_weights: Optional[BinaryBits] = Field(
        8, description="Bits of the weights of the model's first and last Conv/Linear layers, in module order "
                       "(null: FP32), unless the `overrides:` entry matching one sets its bits_weights or is null.")
    ema_decay: float = Field(0.99, gt=0.0, lt=1.0,
                             description="Decay of the moving averages of the activations' levels and ranges.")
