"""AGP's cubic sparsity rate: a pure function of the epoch (no torch: `validate` reports what a run reaches)."""
from __future__ import annotations

from typing import Sequence


def agp_target(initial: float, final: float, epoch: int, due_epochs: Sequence[int]) -> float:
    """Distiller's cubic rate: final + (initial - final) * (1 - (epoch - start) / span)^3.

    span = last due epoch - first due epoch, which equals ((end - start - 1) // frequency) * frequency
    for a starting_epoch/ending_epoch/frequency range, so the final sparsity is reached at the
    last epoch the policy runs.
    """
    start, last = due_epochs[0], due_epochs[-1]
    span = last - start
    if span <= 0:
        return final
    progress = min(max((epoch - start) / span, 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3
