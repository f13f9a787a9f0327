"""Greedy filter pruning to a cost target (NetAdapt; Distiller's greedy filter pruning).

Each round tries one more step on every group: remove the step's weakest filters (L1), settle
the candidate (BatchNorm statistics, optionally a few SGD steps), score it on validation
images, measure its cost. The round keeps the candidate that loses the least top-1 per unit of
cost removed. Rounds go on until the cost target is met or no group can shrink any more.

A measured cost (latency) is noisy: one step's gain is often smaller than the spread of a few
timed runs, and ranking by it keeps whichever candidate was timed luckiest, whose low figure then
hides every later gain. With a clock-free `rank` cost (MACs), candidates are compared by top-1
lost per unit of that cost removed, and only the kept candidate is timed (`ratio`, by the first
process under torchrun, shared with the others): its measured cost decides when the target is met.

A round depends only on the rounds before it: every candidate is settled under a random seed
of its own (the round's number and its group), so a search continued from saved rounds
(`start`: their kept steps are removed and settled again) makes the rounds an uninterrupted
one makes.
"""
from __future__ import annotations

import copy
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..core.errors import UserError
from ..distributed import any_rank, broadcast_from, gather_shares, is_main_process, my_share, world_size
from .auto_prune import remove_weakest
from .auto_space import FilterGroup

Progress = Optional[Callable[["Round", int], None]]  # (the round reached, candidates evaluated so far)


@dataclass(frozen=True)
class Judge:
    """How a candidate is judged: `settle` it in place, `score` its validation top-1, `ratio` its cost;
    `rank`, when given, a clock-free cost ratio that ranks the candidates (then `ratio` measures only
    the candidate each round keeps)."""

    settle: Callable[[nn.Module], None]
    score: Callable[[nn.Module], float]
    ratio: Callable[[nn.Module], float]
    rank: Optional[Callable[[nn.Module], float]] = None


@dataclass(frozen=True)
class Round:
    number: int
    layer: Optional[str]  # the group (its leader) shrunk in this round; None for the starting model
    ratio: float  # cost / dense cost after the round
    top1: float  # validation top-1 of the settled model after the round
    channels: Dict[str, int]  # leader -> output channels after the round
    candidates: int  # candidates evaluated in this round
    seconds: float


@dataclass(frozen=True)
class Hooks:
    """`after_round(rounds, left_out)` after every completed round (the starting one included);
    `stopping()` before every candidate: True ends the search with SearchInterrupted."""

    after_round: Callable[[List[Round], Dict[str, str]], None] = lambda rounds, left_out: None
    stopping: Callable[[], bool] = lambda: False


class SearchInterrupted(Exception):
    """`stopping()` said so in the middle of a round; the rounds completed before were given to after_round."""

    def __init__(self, completed: int):
        super().__init__(f"stopped in round {completed + 1}")
        self.completed = completed


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


@dataclass(frozen=True)
class _Judged:
    """What every process learns of a candidate (small, sent between processes)."""

    removed: int
    top1: float
    ratio: float
    key: Tuple[float, float, float]


@dataclass
class _Candidate:
    index: int  # its place in the round
    model: nn.Module
    judged: _Judged


def greedy_search(model: nn.Module, groups: List[FilterGroup], example_inputs: Any, judge: Judge,
                  target: float, step: float, progress: Progress = None, hooks: Hooks = Hooks(),
                  start: Sequence[Round] = (), left_out: Optional[Dict[str, str]] = None) -> SearchResult:
    """Shrink a copy of `model` round by round until judge.ratio <= `target`; `model` is left as it is.
    `start` and `left_out`: the rounds and failed groups of an interrupted search, to continue from."""
    search = _Search(groups, example_inputs, judge, step, progress, hooks, dict(left_out or {}))
    search.begin(model, list(start))
    while search.rounds[-1].ratio > target:
        reason = search.run_round()
        if reason:
            return SearchResult(search.rounds, False, reason, search.left_out)
    return SearchResult(search.rounds, True, "target reached", search.left_out)


class _Search:
    def __init__(self, groups: List[FilterGroup], example_inputs: Any, judge: Judge, step: float,
                 progress: Progress, hooks: Hooks, left_out: Dict[str, str]):
        self.groups, self.example, self.judge = groups, example_inputs, judge
        self.progress, self.hooks, self.left_out = progress, hooks, left_out
        self.usable = [group for group in groups if group.leader not in left_out]
        self.steps = {group.leader: max(1, round(step * group.channels)) for group in groups}
        self.rounds: List[Round] = []
        self.state: nn.Module = None
        self.evaluated = 0

    def begin(self, model: nn.Module, start: List[Round]) -> None:
        """From the model as it is, or from the saved rounds `start` replayed."""
        self.state = copy.deepcopy(model).eval()
        if start:
            self._replay(start)
        else:
            channels = {group.leader: group.channels for group in self.groups}
            self.rounds = [Round(0, None, 1.0, self.judge.score(self.state), channels, 0, 0.0)]
            self.hooks.after_round(list(self.rounds), dict(self.left_out))
        self.evaluated = sum(r.candidates for r in self.rounds)
        self._report(self.rounds[-1])

    def _replay(self, start: List[Round]) -> None:
        by_leader = {group.leader: group for group in self.groups}
        for before, after in zip(start, start[1:]):
            group = by_leader[after.layer]
            count = before.channels[group.leader] - after.channels[group.leader]
            if remove_weakest(self.state, self.example, group, count) != count:
                raise UserError(f"the saved round {after.number} ({count} filters of '{group.leader}') cannot be "
                                "removed again from the dense model")
            _settle(self.judge, self.state, after.number, group.leader)
        self.rounds = list(start)

    def run_round(self) -> str:
        """One round; the reason the search ends here if no candidate can be kept, else ''.

        In a process group (torchrun) each process settles and judges every world_size-th
        candidate; the judgements are shared, every process keeps the same best candidate, and the
        process that made it sends its weights to the others."""
        started, current, number = time.perf_counter(), self.rounds[-1], len(self.rounds)
        baseline = _Baseline(current.top1, self.judge.rank(self.state) if self.judge.rank else current.ratio)
        steps = [(group, min(self.steps[group.leader], current.channels[group.leader] - 1)) for group in self.usable]
        steps = [(group, count) for group, count in steps if count >= 1]
        mine, world = my_share(len(steps)), world_size()
        judged: Dict[int, Any] = {}  # index -> _Judged, or the reason its group cannot be thinned
        own_best: Optional[_Candidate] = None
        for turn in range(-(-len(steps) // world)):  # as many turns in every process: the stop check is shared
            if any_rank(torch.tensor([self.hooks.stopping()])).item():
                raise SearchInterrupted(len(self.rounds) - 1)
            if turn >= len(mine):
                continue
            index = mine[turn]
            group, count = steps[index]
            outcome = _candidate(self.state, index, group, count, self.example, self.judge, baseline, number)
            judged[index] = outcome if isinstance(outcome, str) else outcome.judged
            if not isinstance(outcome, str) and _better(outcome.judged, index, own_best):
                own_best = outcome
            self.evaluated += 1
            self._report(current)
        return self._keep_best(steps, gather_shares(judged), own_best, current, number, started)

    def _keep_best(self, steps, judged: List[Any], own_best: Optional["_Candidate"], current: Round, number: int,
                   started: float) -> str:
        best_index, tried = None, 0
        for index, ((group, _), outcome) in enumerate(zip(steps, judged)):
            if isinstance(outcome, str):
                self.left_out[group.leader] = outcome
                self.usable.remove(group)
                continue
            tried += 1
            if outcome.key[0] != float("inf") and (best_index is None or outcome.key < judged[best_index].key):
                best_index = index
        if best_index is None:
            return "no filter group can shrink any further" if tried == 0 else "no step lowers the cost any more"
        group, count = steps[best_index]
        best = judged[best_index]
        self.state = self._best_model(own_best, best_index, group, count)
        ratio = best.ratio if self.judge.rank is None else self._timed(self.state)
        channels = dict(current.channels)
        channels[group.leader] -= best.removed
        self.rounds.append(Round(number, group.leader, ratio, best.top1, channels, tried,
                                 time.perf_counter() - started))
        self.evaluated = sum(r.candidates for r in self.rounds)
        self.hooks.after_round(list(self.rounds), dict(self.left_out))
        self._report(self.rounds[-1])
        return ""

    def _best_model(self, own_best: Optional["_Candidate"], index: int, group: FilterGroup, count: int) -> nn.Module:
        """The kept candidate's model: this process's own, or rebuilt (same structure) with the weights,
        buffers and statistics of the process that judged it."""
        owner = index % world_size()
        if own_best is not None and own_best.index == index:
            model = own_best.model
        else:
            model = copy.deepcopy(self.state)
            remove_weakest(model, self.example, group, count)
        broadcast_from(list(model.state_dict().values()), owner)
        return model

    def _timed(self, model: nn.Module) -> float:
        """judge.ratio of the kept model, measured by the first process alone and shared: one clock."""
        value = torch.tensor([self.judge.ratio(model) if is_main_process() else 0.0], dtype=torch.float64)
        broadcast_from([value], 0)
        return float(value.item())

    def _report(self, reached: Round) -> None:
        if self.progress is not None:
            self.progress(reached, self.evaluated)


@dataclass(frozen=True)
class _Baseline:
    """What a round's candidates are ranked against: the current top-1 and ranking cost."""

    top1: float
    cost: float


def _candidate(state: nn.Module, index: int, group: FilterGroup, count: int, example_inputs: Any, judge: Judge,
               baseline: _Baseline, number: int) -> Union[_Candidate, str]:
    """The state with `count` more filters of `group` removed, settled and judged; or why it cannot be thinned."""
    model = copy.deepcopy(state)
    try:
        removed = remove_weakest(model, example_inputs, group, count)
    except UserError as err:
        return str(err)
    if removed < 1:
        return "thinning kept the zeroed filters"
    _settle(judge, model, number, group.leader)
    top1 = judge.score(model)
    if judge.rank is None:
        ratio = cost = judge.ratio(model)
    else:  # timed only if kept
        ratio, cost = float("nan"), judge.rank(model)
    return _Candidate(index, model, _Judged(removed, top1, ratio, _merit(baseline, top1, cost)))


def _better(judged: _Judged, index: int, best: Optional[_Candidate]) -> bool:
    """Whether a candidate beats the best so far (lowest key; on a tie, the earlier one stays)."""
    if judged.key[0] == float("inf"):
        return False
    return best is None or (judged.key, index) < (best.judged.key, best.index)


def _settle(judge: Judge, model: nn.Module, number: int, leader: str) -> None:
    """judge.settle under a seed of this candidate's own (dropout, a shuffled step), the global
    random state left as it was."""
    devices = [p.device for p in model.parameters() if p.is_cuda][:1]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(zlib.crc32(f"{number}:{leader}".encode()))
        judge.settle(model)


def _merit(current: _Baseline, top1: float, cost: float) -> Tuple[float, float, float]:
    """Sort key, lowest best: top-1 lost per unit of cost removed (a gain counts as no loss); then the
    more accurate; then the one removing more. A step that removes no cost is never kept."""
    removed = current.cost - cost
    if removed <= 0:
        return (float("inf"), 0.0, 0.0)
    return (max(current.top1 - top1, 0.0) / removed, -top1, -removed)
