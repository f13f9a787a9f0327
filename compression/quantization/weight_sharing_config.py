"""Typed arguments of KMeansWeightSharingQuantizer (Deep Compression's trained weight sharing)."""
from __future__ import annotations

from typing import Dict, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from typing_extensions import Annotated

from ..core.regexes import check_regexes

Clusters = Annotated[int, Field(ge=2, le=65536)]


class LayerClusters(BaseModel):
    """One `overrides:` entry: the layer's own number of clusters."""

    model_config = ConfigDict(extra="forbid")

    clusters: Clusters = Field(description="Shared values of the layer's weights, 2..65536.")


class KMeansWeightSharingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clusters: Clusters = Field(16, description="Shared values (k) of each layer's weights, 2..65536 "
                                               "(16: 4-bit codes).")
    init: Literal["linear", "density", "random"] = Field(
        "linear", description="First centroids: linear (evenly spaced from the layer's min to max weight), "
                              "density (at quantiles of the weights) or random (k of the weights, seeded).")
    seed: int = Field(0, ge=0, description="Seed of the random init.")
    centroid_gradient: Literal["sum", "mean"] = Field(
        "sum", description="sum: a centroid's gradient is the sum of its members' (Han et al.'s rule: its step is "
                           "its cluster's size times a single weight's, so fine-tune with an lr about that much "
                           "smaller, else training diverges); mean: their mean (a step that does not grow with "
                           "the cluster).")
    iterations: int = Field(20, ge=1, le=1000, description="Most k-means (Lloyd) iterations per layer.")
    overrides: Dict[str, Optional[LayerClusters]] = Field(
        {},
        description="Module-name regex -> {clusters: k} for the Conv2d/Linear layers it matches, in order, "
                    "first match wins; null: the layer is not shared (FP32).")

    @field_validator("overrides")
    @classmethod
    def _regexes_compile(cls, overrides):
        check_regexes(overrides)
        return overrides
