"""AMC's DDPG agent (He et al. 2018, as Distiller's examples/auto_compression/amc runs it), in plain torch.

Written here rather than taken from a library: Distiller's AMC bundles HAN lab's own DDPG code,
and no maintained reinforcement-learning library fits (none is a dependency, and the agent is
two small MLPs with their slowly following copies). Its whole state, random generator and replay
buffer included, is one state_dict, so an interrupted search resumes exactly.

- actor: state -> fraction of the layer's channels to keep (sigmoid); critic: (state, action) ->
  value; each two hidden layers of 300 and 64 units; Adam, learning rates 1e-4 and 1e-3 (HAN's).
- target networks follow by soft updates, tau 0.01.
- replay buffer: the transitions of the last 100 episodes. Every transition of an episode carries
  the episode's reward; an update subtracts a moving average of the rewards it samples (alpha
  0.5) as a baseline, and the discount within an episode is 1 (AMC's settings).
- exploration: the warm-up episodes act uniformly at random in [min_keep, 1]; later ones take the
  actor's action plus truncated-normal noise within [min_keep, 1], sigma 0.5 shrinking by 0.95
  each episode after the warm-up.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

HIDDEN = (300, 64)
ACTOR_LR, CRITIC_LR = 1e-4, 1e-3
TAU = 0.01
DISCOUNT = 1.0
BASELINE_ALPHA = 0.5
BATCH_SIZE = 64
REPLAY_EPISODES = 100
SIGMA, SIGMA_DECAY, SIGMA_FLOOR = 0.5, 0.95, 1e-6


@dataclass
class Batch:
    states: torch.Tensor  # (n, state size)
    actions: torch.Tensor  # (n, 1)
    rewards: torch.Tensor  # (n, 1)
    next_states: torch.Tensor
    done: torch.Tensor  # (n, 1): 1.0 for an episode's last step


def _mlp(inputs: int, sigmoid: bool) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Linear(inputs, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU(),
                               nn.Linear(HIDDEN[1], 1)]
    return nn.Sequential(*layers, nn.Sigmoid()) if sigmoid else nn.Sequential(*layers)


class ReplayBuffer:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self.rows: List[torch.Tensor] = []  # state, action, reward, next state, done: one flat row each

    def add(self, state: torch.Tensor, action: float, reward: float, next_state: torch.Tensor, done: bool) -> None:
        self.rows.append(torch.cat([state, torch.tensor([action, reward]), next_state, torch.tensor([float(done)])]))
        del self.rows[:-self.capacity]

    def sample(self, size: int, generator: torch.Generator) -> Batch:
        """`size` rows drawn with replacement."""
        picked = torch.stack(self.rows)[torch.randint(len(self.rows), (size,), generator=generator)]
        width = (picked.shape[1] - 3) // 2
        return Batch(picked[:, :width], picked[:, width:width + 1], picked[:, width + 1:width + 2],
                     picked[:, width + 2:2 * width + 2], picked[:, -1:])

    def __len__(self) -> int:
        return len(self.rows)


class DdpgAgent:
    def __init__(self, state_size: int, min_keep: float, seed: int, layers: int):
        """`layers`: steps per episode (the buffer holds REPLAY_EPISODES episodes of them)."""
        self.min_keep = min_keep
        self.generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor, self.critic = _mlp(state_size, sigmoid=True), _mlp(state_size + 1, sigmoid=False)
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=ACTOR_LR)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=CRITIC_LR)
        self.buffer = ReplayBuffer(REPLAY_EPISODES * layers)
        self.baseline: Optional[float] = None

    def act(self, state: torch.Tensor, explore_sigma: Optional[float]) -> float:
        """A fraction to keep in [min_keep, 1]: uniform when `explore_sigma` is None (warm-up), else the
        actor's, with truncated-normal noise of that sigma."""
        low = self.min_keep
        if explore_sigma is None:
            return low + (1.0 - low) * float(torch.rand(1, generator=self.generator, dtype=torch.float64))
        with torch.no_grad():
            mean = min(1.0, max(low, float(self.actor(state.unsqueeze(0)))))
        return _truncated_normal(mean, max(explore_sigma, SIGMA_FLOOR), low, 1.0, self.generator)

    def sample(self) -> Batch:
        return self.buffer.sample(BATCH_SIZE, self.generator)

    def update(self, batch: Batch) -> Tuple[float, float]:
        """One DDPG step on `batch`: the critic towards reward - baseline (+ the target networks' value of
        the next state), the actor up the critic's value, the targets a step towards both. Returns the
        critic's loss and the actor's, each before its own step."""
        mean = float(batch.rewards.mean())
        self.baseline = mean if self.baseline is None else self.baseline + BASELINE_ALPHA * (mean - self.baseline)
        with torch.no_grad():
            following = self.critic_target(torch.cat([batch.next_states, self.actor_target(batch.next_states)], 1))
            wanted = batch.rewards - self.baseline + DISCOUNT * (1.0 - batch.done) * following
        critic_loss = nn.functional.mse_loss(self.critic(torch.cat([batch.states, batch.actions], 1)), wanted)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        actor_loss = -self.critic(torch.cat([batch.states, self.actor(batch.states)], 1)).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        _follow(self.actor_target, self.actor)
        _follow(self.critic_target, self.critic)
        return critic_loss.item(), actor_loss.item()

    def state_dict(self) -> Dict[str, Any]:
        rows = torch.stack(self.buffer.rows) if self.buffer.rows else torch.empty(0)
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "actor_target": self.actor_target.state_dict(), "critic_target": self.critic_target.state_dict(),
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict(),
                "buffer": rows, "baseline": self.baseline, "generator": self.generator.get_state()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_optimizer", "critic_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.buffer.rows = list(state["buffer"].unbind(0)) if state["buffer"].numel() else []
        self.baseline = state["baseline"]
        self.generator.set_state(state["generator"])


def exploration_sigma(episode: int, warmup: int) -> Optional[float]:
    """The noise of episode `episode` (from 1): None in the warm-up (random actions), then decaying."""
    if episode <= warmup:
        return None
    return SIGMA * SIGMA_DECAY ** (episode - warmup - 1)


def _truncated_normal(mean: float, sigma: float, low: float, high: float, generator: torch.Generator) -> float:
    """A draw of N(mean, sigma) restricted to [low, high], by the inverse of its distribution function."""
    bounds = torch.tensor([(low - mean) / sigma, (high - mean) / sigma], dtype=torch.float64)
    lower, upper = torch.special.ndtr(bounds).tolist()
    uniform = float(torch.rand(1, generator=generator, dtype=torch.float64))
    point = float(torch.special.ndtri(torch.tensor(lower + (upper - lower) * uniform, dtype=torch.float64)))
    return min(high, max(low, mean + sigma * point))


@torch.no_grad()
def _follow(target: nn.Module, source: nn.Module) -> None:
    for mine, theirs in zip(target.parameters(), source.parameters()):
        mine.mul_(1.0 - TAU).add_(theirs, alpha=TAU)
