"""AMC's search (He et al., "AMC: AutoML for Model Compression", ECCV 2018, as Distiller's
examples/auto_compression/amc runs it): episodes of a DDPG agent walking the searched groups.

In an episode the agent picks, group by group in model order, the fraction of its channels to
keep (auto_amc_env bounds it so that the cost target stays reachable); a copy of the model is
thinned to those counts (the L1-weakest channels go, as in the greedy search), settled and
scored on the validation images. The episode's reward (auto_amc_result.episode_reward) goes to
each of its steps, and after the warm-up the agent learns once per step from its replay buffer.

Each episode depends on all before it, through the agent. Every episode's model is settled under
a seed of its own and the agent draws from its own generator, saved with it, so a search
continued from a snapshot (`saved`) runs the episodes an uninterrupted one runs. Under torchrun
every process runs every episode alike, with the first process's scores, so that their agents
stay the same: AMC does not split its search between the processes.
"""
from __future__ import annotations

import copy
import time
import zlib
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..core.errors import UserError
from ..distributed import any_rank, broadcast_from
from .auto_amc_agent import DdpgAgent, exploration_sigma
from .auto_amc_env import STATE_SIZE, AmcEnvironment
from .auto_amc_result import AmcResult, amc_result, episode_reward
from .auto_greedy import Judge, Progress, Round, SearchInterrupted


@dataclass(frozen=True)
class AmcSettings:
    episodes: int
    warmup: int  # the first episodes act at random
    min_keep: float  # the least fraction of a group's channels an action keeps
    seed: int  # the agent's initial weights and random numbers


@dataclass(frozen=True)
class AmcHooks:
    """`after_episode(rounds, snapshot)` after the dense model is scored and after every episode,
    `snapshot` all a search continues from; `stopping()` before every episode: True ends the search
    with SearchInterrupted."""

    after_episode: Callable[[List[Round], Dict[str, Any]], None] = lambda rounds, snapshot: None
    stopping: Callable[[], bool] = lambda: False


def amc_search(env: AmcEnvironment, judge: Judge, settings: AmcSettings, progress: Progress = None,
               hooks: AmcHooks = AmcHooks(), saved: Optional[Dict[str, Any]] = None) -> AmcResult:
    """`settings.episodes` episodes (those a snapshot `saved` holds included); the model is left as it is.
    `progress(best, episodes)`: the best episode so far (the dense round until one meets the target)."""
    search = _AmcSearch(env, judge, settings, progress, hooks)
    search.begin(saved)
    while len(search.rounds) <= settings.episodes:
        if any_rank(torch.tensor([hooks.stopping()])).item():
            raise SearchInterrupted(len(search.rounds) - 1)
        search.run_episode()
    return search.result()


class _AmcSearch:
    def __init__(self, env: AmcEnvironment, judge: Judge, settings: AmcSettings, progress: Progress,
                 hooks: AmcHooks):
        self.env, self.judge, self.settings, self.progress, self.hooks = env, judge, settings, progress, hooks
        self.agent = DdpgAgent(STATE_SIZE, settings.min_keep, settings.seed, env.layers)
        self.rounds: List[Round] = []

    def begin(self, saved: Optional[Dict[str, Any]]) -> None:
        if saved is not None:
            self._restore(saved)
        else:
            dense = copy.deepcopy(self.env.model).eval()
            top1, _ = _shared(self.judge.score(dense), 1.0)
            self.rounds = [Round(0, None, 1.0, top1, self.env.channels(dense), 0, 0.0)]
            self.hooks.after_episode(list(self.rounds), self.snapshot())
        self._report()

    def run_episode(self) -> None:
        started, number, env = time.perf_counter(), len(self.rounds), self.env
        sigma = exploration_sigma(number, self.settings.warmup)
        kept: List[int] = []
        states: List[torch.Tensor] = []
        for t in range(env.layers):
            states.append(env.state(t, kept, kept[-1] / env.groups[t - 1].channels if kept else 1.0))
            kept.append(env.keep(t, self.agent.act(states[-1], sigma), kept))
        model, top1, ratio = self._judged(kept, number)
        episode = Round(number, None, ratio, top1, env.channels(model), 1, 0.0)
        self._learn(states, kept, episode_reward(episode, env.target.ratio), learning=sigma is not None)
        self.rounds.append(replace(episode, seconds=time.perf_counter() - started))
        self.hooks.after_episode(list(self.rounds), self.snapshot())
        self._report()

    def _learn(self, states: List[torch.Tensor], kept: List[int], reward: float, learning: bool) -> None:
        """The episode's steps into the replay buffer, each with the episode's reward (the action as the
        fraction the bound let it keep); after the warm-up, one update per step."""
        for t, state in enumerate(states):
            last = t == len(states) - 1
            self.agent.buffer.add(state, kept[t] / self.env.groups[t].channels, reward,
                                  state if last else states[t + 1], last)
        if learning:
            for _ in states:
                self.agent.update(self.agent.sample())

    def _judged(self, kept: List[int], number: int) -> Tuple[nn.Module, float, float]:
        """The episode's model, settled under a seed of its own (the global random state left as it was),
        with its top-1 and cost ratio."""
        model = self.env.prune(kept)
        devices = [p.device for p in model.parameters() if p.is_cuda][:1]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(zlib.crc32(f"amc:{number}".encode()))
            self.judge.settle(model)
        top1, ratio = _shared(self.judge.score(model), self.judge.ratio(model))
        return model, top1, ratio

    def result(self) -> AmcResult:
        return amc_result(self.rounds, self.env.target.ratio, self.settings.warmup, self.env.left_out)

    def snapshot(self) -> Dict[str, Any]:
        return {"searched": [group.leader for group in self.env.groups], "settings": asdict(self.settings),
                "target": str(self.env.target), "rounds": [asdict(r) for r in self.rounds],
                "agent": self.agent.state_dict()}

    def _restore(self, saved: Dict[str, Any]) -> None:
        mine = self.snapshot()
        for key in ("searched", "settings", "target"):
            if saved.get(key) != mine[key]:
                raise UserError(f"the saved AMC search has {key} {saved.get(key)}, this one {mine[key]}: the run "
                                "cannot continue it (its --amc-file changed?); start a new run")
        self.rounds = [Round(**record) for record in saved["rounds"]]
        self.agent.load_state_dict(saved["agent"])

    def _report(self) -> None:
        if self.progress is not None:
            result = self.result()
            self.progress(result.best() or self.rounds[0], len(self.rounds) - 1)


def _shared(top1: float, ratio: float) -> Tuple[float, float]:
    """The first process's measurements, in every process (its own outside torchrun)."""
    values = torch.tensor([top1, ratio], dtype=torch.float64)
    broadcast_from([values], 0)
    return float(values[0]), float(values[1])
