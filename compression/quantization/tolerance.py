"""Accuracy-aware PTQ: try calibration choices, then fall back the most sensitive layers to FP32."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .ptq import LayerQuant, simulate
from .ptq_config import PostTrainConfig

CLIP_CANDIDATES = ("NONE", "AVG", "LAPLACE", "GAUSS", "N_STD", "MSE", "PERCENTILE", "KL")

Plan = Dict[str, Optional[LayerQuant]]


@dataclass
class SearchResult:
    plan: Plan
    clip: str
    top1: float
    met: bool
    tried: List[Tuple[str, float]] = field(default_factory=list)     # (clip mode, top-1)
    fallbacks: List[Tuple[str, float]] = field(default_factory=list)  # (layer put in FP32, top-1 after)


def search(model: nn.Module, config: PostTrainConfig, stats: Dict, plan: Plan, calibration: Sequence[torch.Tensor],
           accuracy: Callable[[nn.Module], float], fp32_top1: float, tolerance: float) -> SearchResult:
    """The best clip mode for all layers, then FP32 fallbacks by measured sensitivity until
    the drop from `fp32_top1` is within `tolerance`. The best plan seen is kept either way."""
    config = config.model_copy(update={"clip_n_stds": config.clip_n_stds or 3.0})

    def score(candidate: Plan, clip: str) -> float:  # the clip mode also for ReLU, pooling and add outputs
        return accuracy(simulate(model, config.model_copy(update={"clip_acts": clip}), stats, candidate,
                                 calibration).model)

    tried = [(clip, score(_with_clip(plan, clip), clip)) for clip in CLIP_CANDIDATES]
    clip, top1 = max(tried, key=lambda item: item[1])
    best = _with_clip(plan, clip)
    result = SearchResult(best, clip, top1, fp32_top1 - top1 <= tolerance, tried)
    if result.met:
        return result
    gains = {name: score({**best, name: None}, clip) for name, layer in best.items() if layer is not None}
    for name in sorted(gains, key=gains.get, reverse=True):
        best = {**best, name: None}
        top1 = score(best, clip)
        result.fallbacks.append((name, top1))
        if top1 > result.top1:
            result.plan, result.top1 = best, top1
        if fp32_top1 - top1 <= tolerance:
            result.plan, result.top1, result.met = best, top1, True
            break
    return result


def _with_clip(plan: Plan, clip: str) -> Plan:
    return {name: None if layer is None else replace(layer, clip=clip) for name, layer in plan.items()}
