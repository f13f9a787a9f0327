"""Typed settings of post-training range-linear quantization (Distiller's PostTrainLinearQuantizer)."""
from __future__ import annotations

from typing import Any, Dict, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

Mode = Literal["SYMMETRIC", "SYMMETRIC_RESTRICTED", "ASYMMETRIC_UNSIGNED", "ASYMMETRIC_SIGNED"]
ClipMode = Literal["NONE", "AVG", "N_STD", "GAUSS", "LAPLACE", "MSE", "PERCENTILE", "KL"]
Bits = Optional[int]


class ModeMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activations: Mode = "SYMMETRIC"
    weights: Mode = "SYMMETRIC"


class InputSettings(BaseModel):
    """How one input of a layer is quantized when the operation before it leaves it unquantized."""

    model_config = ConfigDict(extra="forbid")

    from_output: bool = Field(False, description="Take the layer's output settings (the other keys are ignored).")
    bits_activations: Bits = Field(None, ge=2, le=16)
    mode: Optional[Mode] = None
    clip_acts: Optional[ClipMode] = None
    clip_n_stds: Optional[float] = Field(None, gt=0)


class LayerSettings(BaseModel):
    """What an `overrides` entry may change for the operations its regex matches (null: FP32)."""

    model_config = ConfigDict(extra="forbid")

    bits_activations: Bits = Field(None, ge=2, le=16, description="null: outputs stay FP32.")
    bits_parameters: Bits = Field(None, ge=2, le=16, description="null: weights stay FP32.")
    bits_weights: Bits = Field(None, ge=2, le=16, description="Distiller's name for bits_parameters.")
    mode: Optional[Union[Mode, ModeMapping]] = None
    clip_acts: Optional[ClipMode] = None
    clip_n_stds: Optional[float] = Field(None, gt=0)
    per_channel_wts: Optional[bool] = None
    input_overrides: Dict[int, InputSettings] = Field(
        default_factory=dict, description="Input index -> its settings, for inputs not quantized before.")
    quantize_inputs: Optional[bool] = Field(
        None, description="Quantize unquantized inputs of a weightless operation (default true).")

    def given(self, key: str) -> bool:
        """Whether the entry sets `key`, null included (an absent key keeps the quantizer's default)."""
        return key in self.model_fields_set


class PostTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bits_activations: Bits = Field(8, ge=2, le=16, description="Bits of activations (null: FP32 unless overridden).")
    bits_parameters: Bits = Field(8, ge=2, le=16, description="Bits of weights (null: FP32 unless overridden).")
    bits_accum: int = Field(32, description="Bits of accumulators: 32, as the int8 kernels accumulate.")
    mode: Union[Mode, ModeMapping] = Field("SYMMETRIC", description="A mode, or {activations:, weights:}.")
    per_channel_wts: bool = Field(False, description="One scale per output channel of each weight.")
    clip_acts: ClipMode = Field("NONE", description="How activation ranges are clipped.")
    clip_n_stds: Optional[float] = Field(None, gt=0, description="N for clip_acts: N_STD.")
    clip_half_range: bool = Field(False, description="Clip activations to [0, max].")
    model_activation_stats: Optional[str] = Field(None, description="Stats file (--stats overrides it).")
    overrides: Dict[str, Optional[LayerSettings]] = Field(
        default_factory=dict, description="Operation-name regex -> settings: a key that is an operation's exact name "
        "wins, else the first regex that matches, in order; null = FP32.")
    scale_approx_mult_bits: Optional[int] = Field(
        None, description="null only: the int8 kernels requantize with a float scale, not an integer multiplier.")
    inputs_quant_auto_fallback: bool = Field(
        True, description="An input not quantized by the operation before it takes the layer's output settings; "
                           "false: it needs input_overrides.")

    _source: str = PrivateAttr("")
    _lines: Dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator("bits_accum")
    @classmethod
    def _accumulators_are_32_bits(cls, bits):
        if bits != 32:
            raise ValueError("only 32 is supported (the int8 kernels accumulate in 32 bits, and narrower "
                             "accumulators are not simulated): set 32 or remove the key")
        return bits

    @field_validator("scale_approx_mult_bits")
    @classmethod
    def _no_scale_approximation(cls, bits):
        if bits is not None:
            raise ValueError("requantization scales are not approximated by integer multipliers here "
                             "(the int8 kernels use float scales): remove the key or set it to null")
        return bits

    @model_validator(mode="after")
    def _n_std_needs_n(self):
        if self.clip_acts == "N_STD" and self.clip_n_stds is None:
            raise ValueError("clip_acts N_STD needs clip_n_stds")
        return self

    def located(self, source: str, lines: Dict[str, int]) -> "PostTrainConfig":
        """This config remembering where it was written: `source` (file and YAML path) and each argument's line."""
        self._source, self._lines = source, dict(lines)
        return self

    def where(self, *keys: Any) -> str:
        """`file: quantizers.q.overrides.fc.input_overrides (line 77)`, or the plain path without a file."""
        path = ".".join(str(key) for key in keys)
        for end in range(len(keys), 0, -1):
            line = self._lines.get(".".join(str(key) for key in keys[:end]))
            if line is not None:
                return f"{self._source}.{path} (line {line})" if self._source else f"{path} (line {line})"
        return f"{self._source}.{path}" if self._source else path


def with_updates(config: PostTrainConfig, updates: Dict[str, Any]) -> PostTrainConfig:
    """`config` with some arguments replaced (validated again), keeping where it was written."""
    updated = PostTrainConfig.model_validate({**config.model_dump(exclude_unset=True), **updates})
    return updated.located(config._source, config._lines)
