"""Typed arguments of the pruners, as Distiller's schedules write them."""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from typing_extensions import Annotated

GROUP_TYPES = ("Filters", "3D", "Channels", "Rows", "Cols", "Blocks", "2D", "4D")
Sparsity = Annotated[float, Field(ge=0.0, lt=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


def _one_name_is_a_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# `weights: module.fc.weight` is a list of one, as Distiller reads it
_NAME_OR_NAMES = Union[str, Annotated[List[str], Field(min_length=1)]]
WeightNames = Annotated[List[str], BeforeValidator(_one_name_is_a_list, json_schema_input_type=_NAME_OR_NAMES)]


def _final_above_initial(config):
    if config.final_sparsity <= config.initial_sparsity:
        raise ValueError(f"final_sparsity ({config.final_sparsity}) must be greater than "
                         f"initial_sparsity ({config.initial_sparsity})")
    return config


class PrunerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def referenced_parameters(self) -> Iterator[Tuple[str, str]]:
        """(argument, parameter name) pairs that must exist in the model."""
        for field in ("weights",):
            for index, name in enumerate(getattr(self, field, None) or []):
                if name != "*":
                    yield f"{field}[{index}]", name
        for field in ("thresholds", "levels", "sensitivities", "reg_regims"):
            for name in (getattr(self, field, None) or {}):
                if name != "*":
                    yield f"{field}.{name}", name


class ThresholdsConfig(PrunerConfig):
    thresholds: Dict[str, NonNegative] = Field(description="Per-parameter magnitude threshold ('*': default).")


class LevelsConfig(PrunerConfig):
    levels: Dict[str, Sparsity] = Field(description="Per-parameter sparsity level in [0, 1) ('*': default).")


class SensitivitiesConfig(PrunerConfig):
    sensitivities: Dict[str, NonNegative] = Field(
        description="Per-parameter sensitivity s: prune |w| < s * std(w) ('*': default).")


class SplicingConfig(SensitivitiesConfig):
    low_thresh_mult: float = Field(description="Weights below (mean + s*std) * this are pruned.")
    hi_thresh_mult: float = Field(description="Weights above (mean + s*std) * this are spliced back.")
    sensitivity_multiplier: NonNegative = Field(0.0, description="Grow s linearly per epoch by this factor.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.hi_thresh_mult < self.low_thresh_mult:
            raise ValueError("hi_thresh_mult must be >= low_thresh_mult")
        return self


class AGPConfig(PrunerConfig):
    initial_sparsity: Sparsity = Field(description="Sparsity at the policy's first epoch.")
    final_sparsity: Sparsity = Field(description="Sparsity at the policy's last epoch.")
    weights: WeightNames = Field(min_length=1, description="Parameter names ('*': every Conv/Linear weight).")

    @model_validator(mode="after")
    def _increasing(self):
        return _final_above_initial(self)


class StructureConfig(PrunerConfig):
    group_type: str = Field(description="Filters, 3D, Channels, Rows, Cols, Blocks or 2D.")
    weights: WeightNames = Field(min_length=1, description="Parameter names.")
    group_dependency: Optional[str] = Field(None, description="'Leader': the first weight's ranking prunes all.")
    kwargs: Optional[Dict[str, Any]] = Field(None, description="e.g. {block_shape: [1, 1, 4, 4]} for Blocks.")
    noise: NonNegative = Field(0.0, description="Gaussian noise added to the ranking scores.")
    prune_bias: bool = Field(False, description="Also mask the bias entries of the removed filters or rows (not in "
                                                "Distiller, whose pruners leave biases): a Linear layer, or a "
                                                "convolution with no BatchNorm after it, then outputs exactly zero "
                                                "there, so thinning can remove them.")

    @model_validator(mode="after")
    def _known(self):
        if self.group_type not in GROUP_TYPES:
            raise ValueError(f"unknown group_type '{self.group_type}' (one of {', '.join(GROUP_TYPES)})")
        if self.group_dependency not in (None, "Leader"):
            raise ValueError(f"group_dependency must be 'Leader' (got '{self.group_dependency}')")
        if self.prune_bias and self.group_type not in ("Filters", "3D", "Rows"):
            raise ValueError(f"prune_bias masks whole outputs: group_type Filters, 3D or Rows "
                             f"(got '{self.group_type}')")
        return self

    @property
    def block_shape(self) -> Optional[List[int]]:
        return (self.kwargs or {}).get("block_shape")


class RankedStructureConfig(StructureConfig):
    desired_sparsity: Sparsity = Field(description="Fraction of structures to remove.")


class RankedStructureAGPConfig(StructureConfig):
    initial_sparsity: Sparsity = Field(description="Fraction of structures removed at the first epoch.")
    final_sparsity: Sparsity = Field(description="Fraction of structures removed at the last epoch.")

    @model_validator(mode="after")
    def _increasing(self):
        return _final_above_initial(self)


class RandomLevelConfig(StructureConfig):
    sparsity_range: Tuple[Sparsity, Sparsity] = Field(description="[low, high): a level drawn each time.")


class ThresholdStructureConfig(PrunerConfig):
    reg_regims: Dict[str, Tuple[NonNegative, str]] = Field(
        description="parameter -> [threshold, group_type]: structures whose criterion <= threshold are pruned.")
    threshold_criteria: str = Field("Mean_Abs", description="Mean_Abs, Max or L2.")


class NMConfig(PrunerConfig):
    n: int = Field(2, ge=1, description="Weights kept in every group of m.")
    m: int = Field(4, ge=2, description="Group size along the input dimension.")
    weights: WeightNames = Field(min_length=1, description="Parameter names ('*': every Conv/Linear weight).")

    @model_validator(mode="after")
    def _n_below_m(self):
        if self.n >= self.m:
            raise ValueError(f"n ({self.n}) must be smaller than m ({self.m})")
        return self


Strength = Annotated[float, Field(ge=0.0)]


class L1Config(PrunerConfig):
    reg_regims: Dict[str, Strength] = Field(description="parameter -> strength of the L1 penalty.")
    threshold_criteria: Optional[str] = Field(None, description="Mean_Abs or Max: zero elements below strength.")


class GroupConfig(PrunerConfig):
    reg_regims: Dict[str, Tuple[Strength, str]] = Field(description="parameter -> [strength, group_type].")
    threshold_criteria: Optional[str] = Field(
        None, description="Mean_Abs, Max or L2: zero the groups whose criterion is at or below strength.")
