"""The arguments of Distiller's lr schedulers (read without torch: schedules are checked before it loads)."""
from __future__ import annotations

from typing import List, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MultiStepMultiGammaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    milestones: List[int] = Field(description="Epochs at which to change the lr (increasing).")
    gammas: List[float] = Field(description="Factor applied at each milestone.")

    @model_validator(mode="after")
    def _same_length(self):
        if len(self.milestones) != len(self.gammas):
            raise ValueError("milestones and gammas must have the same length")
        if self.milestones != sorted(self.milestones):
            raise ValueError("milestones must be increasing")
        return self


class PolynomialConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    T_max: Optional[int] = Field(None, ge=1, description="Distiller's name for total_iters.")
    total_iters: Optional[int] = Field(None, ge=1, description="Epochs over which the lr decays to 0.")
    power: float = Field(1.0, description="Exponent of the decay.")

    @model_validator(mode="after")
    def _one_length(self):
        if (self.T_max is None) == (self.total_iters is None):
            raise ValueError("give exactly one of T_max or total_iters")
        return self
