"""The arguments of BatchNormFolder (read without torch: schedules are checked before it loads)."""
from __future__ import annotations

from typing import List, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..core.regexes import check_regexes


class BatchNormFolderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layers: Optional[List[str]] = Field(
        None, description="Module-name regexes of the Conv2d layers whose BatchNorm to fold (default: every Conv2d "
                          "whose output only its BatchNorm reads).")

    @field_validator("layers")
    @classmethod
    def _regexes_compile(cls, patterns):
        check_regexes(patterns, "pattern")
        return patterns
