"""Greedy filter pruning to a cost target (NetAdapt; Distiller's greedy filter pruning).

Each round tries one more step on every group: remove the step's weakest filters (L1), settle
the candidate (BatchNorm statistics, optionally a few SGD steps), score it on validation
images, measure its cost. The round keeps the candidate that loses the least top-1 per unit of
cost removed. Rounds go on until the cost target is met or no group can shrink any more.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from torch import nn

from ..core.errors import UserError
from .auto_prune import remove_weakest
from .auto_space import FilterGroup

Progress = Optional[Callable[["Round", int], None]]  # (the round reached, candidates evaluated so far)


@dataclass(frozen=True)
class Judge:
    """How a candidate is judged: `settle` it in place, `score` its validation top-1, `ratio` its cost."""

    settle: Callable[[nn.Module], None]
    score: Callable[[nn.Module], float]
    ratio: Callable[[nn.Module], float]


@dataclass(frozen=True)
class Round:
    number: int
    layer: Optional[str]  # the group (its leader) shrunk in this round; None for the starting model
    ratio: float  # cost / dense cost after the round
    top1: float  # validation top-1 of the settled model after the round
    channels: Dict[str, int]  # leader -> output channels after the round
    candidates: int  # candidates evaluated in this round
    seconds: float


@dataclass
class SearchResult:
    rounds: List[Round]
    target_reached: bool
    stopped_because: str
    left_out: Dict[str, str] = field(default_factory=dict)  # groups that failed to thin during the search

    @property
    def last(self) -> Round:
        return self.rounds[-1]

    def chosen(self, tolerance: float) -> Round:
        """The round whose configuration is kept: the last one when the target was reached, else the
        most compressed one still within `tolerance` of the starting top-1."""
        if self.target_reached:
            return self.last
        start = self.rounds[0].top1
        return [r for r in self.rounds if start - r.top1 <= tolerance + 1e-9][-1]


@dataclass
class _Candidate:
    group: FilterGroup
    removed: int
    model: nn.Module
    top1: float
    ratio: float
    key: Tuple[float, float, float]


def greedy_search(model: nn.Module, groups: List[FilterGroup], example_inputs: Any, judge: Judge,
                  target: float, step: float, progress: Progress = None) -> SearchResult:
    """Shrink a copy of `model` round by round until judge.ratio <= `target`; `model` is left as it is."""
    state = copy.deepcopy(model).eval()
    channels = {group.leader: group.channels for group in groups}
    steps = {group.leader: max(1, round(step * group.channels)) for group in groups}
    rounds = [Round(0, None, 1.0, judge.score(state), dict(channels), 0, 0.0)]
    usable, left_out, evaluated = list(groups), {}, 0
    _report(progress, rounds[-1], evaluated)
    while rounds[-1].ratio > target:
        started, current = time.perf_counter(), rounds[-1]
        best, tried = None, 0
        for group in list(usable):
            count = min(steps[group.leader], channels[group.leader] - 1)
            if count < 1:
                continue
            candidate = _candidate(state, group, count, example_inputs, judge, current, left_out)
            if candidate is None:
                usable.remove(group)
                continue
            tried += 1
            evaluated += 1
            _report(progress, current, evaluated)
            if candidate.key[0] != float("inf") and (best is None or candidate.key < best.key):
                best = candidate
        if best is None:
            reason = "no filter group can shrink any further" if tried == 0 else "no step lowers the cost any more"
            return SearchResult(rounds, False, reason, left_out)
        state = best.model
        channels[best.group.leader] -= best.removed
        rounds.append(Round(len(rounds), best.group.leader, best.ratio, best.top1, dict(channels), tried,
                            time.perf_counter() - started))
        _report(progress, rounds[-1], evaluated)
    return SearchResult(rounds, True, "target reached", left_out)


def _candidate(state: nn.Module, group: FilterGroup, count: int, example_inputs: Any, judge: Judge,
               current: Round, left_out: Dict[str, str]) -> Optional[_Candidate]:
    """The state with `count` more filters of `group` removed, settled and judged; None if it cannot be thinned."""
    model = copy.deepcopy(state)
    try:
        removed = remove_weakest(model, example_inputs, group, count)
    except UserError as err:
        left_out[group.leader] = str(err)
        return None
    if removed < 1:
        left_out[group.leader] = "thinning kept the zeroed filters"
        return None
    judge.settle(model)
    top1, ratio = judge.score(model), judge.ratio(model)
    return _Candidate(group, removed, model, top1, ratio, _merit(current, top1, ratio))


def _merit(current: Round, top1: float, ratio: float) -> Tuple[float, float, float]:
    """Sort key, lowest best: top-1 lost per unit of cost removed (a gain counts as no loss); then the
    more accurate; then the one removing more. A step that removes no cost is never kept."""
    removed = current.ratio - ratio
    if removed <= 0:
        return (float("inf"), 0.0, 0.0)
    return (max(current.top1 - top1, 0.0) / removed, -top1, -removed)


def _report(progress: Progress, reached: Round, evaluated: int) -> None:
    if progress is not None:
        progress(reached, evaluated)
