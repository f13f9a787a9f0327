"""What a run of a given length leaves out of its schedule: policies that never run or stop early."""
from __future__ import annotations

from typing import List, Optional, Tuple

from ..core.errors import Problem
from ..pruning.agp_rate import agp_target
from .model import PolicySpec, Schedule


def skipped_by_length(schedule: Schedule, epochs: int) -> List[Problem]:
    """One problem per policy due at an epoch the run (epochs 0 to `epochs` - 1) does not reach."""
    problems = []
    for spec in schedule.policies:
        ran = [epoch for epoch in spec.epochs if epoch < epochs]
        if not spec.epochs or len(ran) == len(spec.epochs):
            continue
        what = f"{spec.kind} '{spec.instance}' is due at {_epochs(spec.epochs)}"
        if not ran:
            message = f"{what}, but the run has {epochs} epochs: it never runs"
        else:
            message = f"{what}, but the run ends after epoch {epochs - 1}: it runs {len(ran)} of {len(spec.epochs)} times"
            reached = _agp_reached(schedule, spec, ran[-1])
            if reached is not None:
                message += f", reaching sparsity {reached[0]:.1%} instead of {reached[1]:.1%}"
        problems.append(Problem(f"policies[{spec.index}]", message, spec.line))
    return problems


def _epochs(epochs) -> str:
    return f"epochs {epochs[0]} to {epochs[-1]}" if len(epochs) > 1 else f"epoch {epochs[0]}"


def _agp_reached(schedule: Schedule, spec: PolicySpec, last_run: int) -> Optional[Tuple[float, float]]:
    """(sparsity the AGP rate reaches at `last_run`, its final sparsity) for a gradual pruner."""
    if spec.kind != "pruner":
        return None
    config = schedule.component("pruners", spec.instance).config
    initial, final = getattr(config, "initial_sparsity", None), getattr(config, "final_sparsity", None)
    if initial is None or final is None:
        return None
    return agp_target(initial, final, last_run, spec.epochs), final
