"""The arguments of the thinning extensions (read without torch: schedules are checked before it loads)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

ThinningFunction = Literal["remove_filters", "remove_channels"]


class _DistillerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arch: Optional[str] = Field(None, description="Accepted for Distiller compatibility; the run's model is used.")
    dataset: Optional[str] = Field(None, description="Accepted for Distiller compatibility; ignored.")


class StructureRemoverConfig(_DistillerArgs):
    thinning_func_str: ThinningFunction = Field(description="remove_filters or remove_channels.")


class FilterRemoverConfig(_DistillerArgs):
    thinning_func_str: ThinningFunction = Field("remove_filters", description="remove_filters or remove_channels.")


class ChannelRemoverConfig(_DistillerArgs):
    thinning_func_str: ThinningFunction = Field("remove_channels", description="remove_filters or remove_channels.")
