"""Typed arguments of the quantization-aware-training quantizers, as Distiller's schedules write them."""
from __future__ import annotations

import re
from typing import Dict, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator
from typing_extensions import Annotated

Bits = Annotated[int, Field(ge=2, le=16)]
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


class LayerBits(BaseModel):
    """One `overrides:` entry; a field left out keeps the quantizer's value."""

    model_config = ConfigDict(extra="forbid")

    bits_activations: Optional[Bits] = Field(None, description="Bits of the layer's output (null: FP32).")
    bits_weights: Optional[Bits] = Field(None, description="Bits of the layer's weight (null: FP32).")
    bits_bias: Optional[Bits] = Field(None, description="Bits of the layer's bias (null: FP32).")


class QATConfig(BaseModel):
    """What every QAT quantizer takes."""

    model_config = ConfigDict(extra="forbid")

    bits_activations: Optional[Bits] = Field(8, description="Bits of activations, 2..16 (null: FP32).")
    bits_weights: Optional[Bits] = Field(8, description="Bits of Conv/Linear weights, 2..16 (null: FP32).")
    bits_bias: Optional[Bits] = Field(None, description="Bits of Conv/Linear biases (null: FP32).")
    overrides: Dict[str, Optional[LayerBits]] = Field(
        {},
        description="Module-name regex -> bits for the layers it matches, in order, first match wins; null: FP32.")

    @field_validator("overrides")
    @classmethod
    def _regexes_compile(cls, overrides):
        for pattern in overrides:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"override '{pattern}' is not a valid regular expression ({err})") from None
        return overrides


class RangeLinearQATConfig(QATConfig):
    mode: ModeMap = Field("SYMMETRIC", validate_default=True,
                          description=f"{', '.join(MODES)}, or {{activations: MODE, weights: MODE}}.")
    per_channel_wts: bool = Field(False, description="One weight range per output channel.")
    quantize_inputs: bool = Field(True, description="Fake-quantize the model's input too.")
    num_bits_inputs: Optional[Bits] = Field(None, description="Bits of the model's input (default: bits_activations).")
    ema_decay: float = Field(0.999, gt=0.0, lt=1.0, description="Decay of the activation ranges' moving average.")

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
