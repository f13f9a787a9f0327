"""Typed settings of post-training range-linear quantization (Distiller's PostTrainLinearQuantizer)."""
from __future__ import annotations

from typing import Dict, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Mode = Literal["SYMMETRIC", "SYMMETRIC_RESTRICTED", "ASYMMETRIC_UNSIGNED", "ASYMMETRIC_SIGNED"]
ClipMode = Literal["NONE", "AVG", "N_STD", "GAUSS", "LAPLACE", "MSE", "PERCENTILE", "KL"]
Bits = Optional[int]


class ModeMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activations: Mode = "SYMMETRIC"
    weights: Mode = "SYMMETRIC"


class LayerSettings(BaseModel):
    """What an `overrides` entry may change for the modules its regex matches."""

    model_config = ConfigDict(extra="forbid")

    bits_activations: Bits = Field(None, ge=2, le=16)
    bits_parameters: Bits = Field(None, ge=2, le=16)
    bits_weights: Bits = Field(None, ge=2, le=16, description="Distiller's QAT name for bits_parameters.")
    mode: Optional[Union[Mode, ModeMapping]] = None
    clip_acts: Optional[ClipMode] = None
    per_channel_wts: Optional[bool] = None


class PostTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bits_activations: int = Field(8, ge=2, le=16, description="Bits of activations.")
    bits_parameters: int = Field(8, ge=2, le=16, description="Bits of weights.")
    bits_accum: int = Field(32, ge=2, le=32, description="Bits of accumulators (int8 kernels accumulate in 32).")
    mode: Union[Mode, ModeMapping] = Field("SYMMETRIC", description="A mode, or {activations:, weights:}.")
    per_channel_wts: bool = Field(False, description="One scale per output channel of each weight.")
    clip_acts: ClipMode = Field("NONE", description="How activation ranges are clipped.")
    clip_n_stds: Optional[float] = Field(None, gt=0, description="N for clip_acts: N_STD.")
    clip_half_range: bool = Field(False, description="Clip activations to [0, max].")
    model_activation_stats: Optional[str] = Field(None, description="Stats file (--stats overrides it).")
    overrides: Dict[str, Optional[LayerSettings]] = Field(
        default_factory=dict, description="Module-name regex -> settings, in order, first match wins; null = FP32.")
    scale_approx_mult_bits: Optional[int] = Field(None, description="Accepted for Distiller files; no effect.")
    inputs_quant_auto_fallback: bool = Field(True, description="Accepted for Distiller files; no effect.")

    @model_validator(mode="after")
    def _n_std_needs_n(self):
        if self.clip_acts == "N_STD" and self.clip_n_stds is None:
            raise ValueError("clip_acts N_STD needs clip_n_stds")
        return self
