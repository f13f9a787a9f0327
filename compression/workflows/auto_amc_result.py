"""What an AMC search returns: its episodes as rounds, and which of them `finish` reproduces.

`rounds[0]` is the dense model as the search found it; `rounds[k]` is episode k (`channels`:
the kept output channels of every group, `top1` and `ratio` of the pruned, settled model).
An episode meets the target when its cost ratio is at most `target`; its reward is then its
validation top-1 as a fraction (Distiller's "top1" reward), else a penalty below -1 that grows
with the excess.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .auto_greedy import Round, SearchResult

SLACK = 1e-9  # ratios computed in floating point: equal counts as within


def episode_reward(episode: Round, target: float) -> float:
    if episode.ratio <= target + SLACK:
        return episode.top1 / 100.0
    return -1.0 - (episode.ratio - target)


@dataclass
class AmcResult(SearchResult):
    target: float = 1.0  # the cost ratio an episode had to reach
    warmup: int = 0  # episodes of random actions the agent began with

    @property
    def episodes(self) -> List[Round]:
        return self.rounds[1:]

    def best(self) -> Optional[Round]:
        """The most accurate episode within the target (the earliest of equals); None if none is."""
        met = [r for r in self.episodes if r.ratio <= self.target + SLACK]
        return max(met, key=lambda r: (r.top1, -r.number)) if met else None

    def chosen(self, tolerance: float) -> Round:
        """The best episode; when none met the target, the cheapest model within `tolerance` of the
        dense top-1 (the dense model itself if no episode is), as the greedy search keeps."""
        best = self.best()
        if best is not None:
            return best
        start = self.rounds[0].top1
        within = [r for r in self.rounds if start - r.top1 <= tolerance + SLACK]
        return min(within, key=lambda r: (r.ratio, r.number))

    def end_record(self) -> Dict[str, Any]:
        """What auto_state.json keeps under search_end["amc"] to rebuild this result."""
        return {"target": self.target, "warmup": self.warmup}

    def summary(self, chosen: Round) -> Dict[str, Any]:
        """The report's search section, AMC's part."""
        best = self.best()
        return {"strategy": "amc", "episodes": len(self.episodes), "warmup": self.warmup,
                "best_episode": None if best is None else best.number,
                "best_reward": None if best is None else episode_reward(best, self.target),
                "chosen_reward": episode_reward(chosen, self.target) if chosen.number else None,
                "episodes_within_target": sum(r.ratio <= self.target + SLACK for r in self.episodes),
                "cost_ratio_reached": min(r.ratio for r in self.rounds)}


def amc_result(rounds: List[Round], target: float, warmup: int, left_out: Dict[str, str]) -> AmcResult:
    result = AmcResult(list(rounds), False, "", dict(left_out), target, warmup)
    best, count = result.best(), len(result.episodes)
    result.target_reached = best is not None
    result.stopped_because = (f"{count} episodes, the best within the target: episode {best.number}" if best else
                              f"none of {count} episodes within the target")
    return result
