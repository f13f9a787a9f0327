"""The arguments of LowRankFactorizer (read without torch: schedules are checked before it loads)."""
from __future__ import annotations

from typing import Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import Annotated

from ..core.regexes import check_regexes

Method = Literal["svd", "spatial_svd", "tucker2"]
METHODS = ("svd", "spatial_svd", "tucker2")
CRITERIA = ("rank", "rank_ratio", "energy", "macs_ratio")
Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
Rank = Annotated[int, Field(ge=1)]
RankValue = Union[Rank, Annotated[List[Rank], Field(min_length=2, max_length=2)]]


class RankChoice(BaseModel):
    """How a layer is factorized: its method and one way of choosing its rank."""

    model_config = ConfigDict(extra="forbid")

    method: Optional[Method] = Field(None, description="svd, spatial_svd or tucker2 (a Linear layer always takes svd).")
    rank: Optional[RankValue] = Field(
        None, description="The rank itself; Tucker-2 takes one for both 1x1 convs or [r1, r2].")
    rank_ratio: Optional[Fraction] = Field(None, description="The rank as a fraction of the layer's full rank.")
    energy: Optional[Fraction] = Field(
        None, description="The smallest rank that keeps this fraction of the sum of squared singular values.")
    macs_ratio: Optional[Fraction] = Field(
        None, description="The largest rank at which the factorized layer has at most this fraction of its MACs.")

    @model_validator(mode="after")
    def _one_criterion(self):
        given = self.criteria()
        if len(given) > 1:
            raise ValueError(f"give one of {', '.join(CRITERIA)}, not {' and '.join(given)}")
        return self

    def criteria(self) -> List[str]:
        return [name for name in CRITERIA if getattr(self, name) is not None]


class LayerFactorization(RankChoice):
    """One `overrides:` entry; what it leaves out is the factorizer's."""


class LowRankFactorizerConfig(RankChoice):
    method: Method = Field("spatial_svd", description="svd, spatial_svd or tucker2 for the convs; Linear layers "
                                                      "always take svd.")
    layers: Optional[List[str]] = Field(
        None, description="Module-name regexes of the layers to factorize (default: every Conv2d whose kernel is "
                          "larger than 1x1 and every Linear).")
    overrides: Dict[str, Optional[LayerFactorization]] = Field(
        {}, description="Module-name regex -> method and rank for the layers it matches, in order, first match "
                        "wins (also outside `layers`); null: the layer is left alone.")

    @field_validator("layers", "overrides")
    @classmethod
    def _regexes_compile(cls, patterns):
        check_regexes(patterns, "pattern")
        return patterns

    @model_validator(mode="after")
    def _criterion_given(self):
        if not self.criteria():
            raise ValueError(f"say how to choose the ranks: one of {', '.join(CRITERIA)}")
        return self
