"""The sweep's levels and granularities from the flags, without torch: `compressor sensitivity --help` lists them."""
from __future__ import annotations

import math
from typing import List

from ..core.errors import UserError

GRANULARITIES = ("element", "filter", "channel")


def parse_sparsities(text: str) -> List[float]:
    """'start:stop:step' (stop included) or a comma list; every level in [0, 1)."""
    text = (text or "").strip()
    if not text:
        raise UserError("--sparsities: empty; give e.g. 0:0.95:0.05 or 0,0.5,0.9")
    values = _parse_range(text) if ":" in text else [_number(part) for part in text.split(",")]
    if not values:
        raise UserError(f"--sparsities '{text}': no levels")
    check_levels(values, "--sparsities")
    return sorted(set(round(v, 6) for v in values))


def check_levels(levels, where: str = "sparsities") -> None:
    """Every level a number in [0, 1): 1 would zero the whole weight, a negative one prune nothing."""
    if not levels:
        raise UserError(f"{where}: no levels")
    bad = [v for v in levels if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0]
    if bad:
        raise UserError(f"{where}: every level must be a number in [0, 1), got {bad[0]!r}")


def _number(part: str) -> float:
    try:
        value = float(part.strip())
    except ValueError:
        raise UserError(f"--sparsities: '{part.strip()}' is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"--sparsities: '{part.strip()}' is not a finite number")
    return value


def _parse_range(text: str) -> List[float]:
    parts = text.split(":")
    if len(parts) != 3:
        raise UserError(f"--sparsities '{text}': a range is start:stop:step, e.g. 0:0.95:0.05")
    start, stop, step = (_number(p) for p in parts)
    if step <= 0:
        raise UserError(f"--sparsities '{text}': step must be positive")
    if stop < start:
        raise UserError(f"--sparsities '{text}': stop is below start")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    return [start + i * step for i in range(count)]
