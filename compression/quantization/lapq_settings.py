"""LAPQ's settings and starting modes, without torch: `compressor quantize --help` lists them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..core.errors import UserError, did_you_mean

CLIP_MODE_INITS = ("NONE", "AVG", "GAUSS", "LAPLACE")
LP_INITS = {"L1": 1.0, "L2": 2.0, "L3": 3.0}
INIT_MODES = (*LP_INITS, *CLIP_MODE_INITS)


@dataclass(frozen=True)
class LapqSettings:
    """How the search runs: its starting clips, its Powell iterations and loss evaluations, its images."""

    init_mode: str = "L3"
    maxiter: int = 2
    maxfev: Optional[int] = None
    eval_size: Optional[int] = None  # calibration images the loss is measured on (None: all)

    def __post_init__(self) -> None:
        if self.init_mode not in INIT_MODES:
            raise UserError("LAPQ init mode: " + did_you_mean(self.init_mode, INIT_MODES, "init mode"))
        for name in ("maxiter", "maxfev", "eval_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UserError(f"LAPQ {name} must be a whole number of at least 1, not {value!r}")
