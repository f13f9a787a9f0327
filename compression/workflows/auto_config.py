"""What `compressor auto` is asked for: a cost target, an accuracy tolerance and how to search."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

from ..core.errors import UserError, did_you_mean

KINDS = ("macs", "params", "size", "latency")
STRATEGIES = ("greedy", "amc")
AVAILABLE_STRATEGIES = ("greedy",)


@dataclass(frozen=True)
class Target:
    """Reach `ratio` = compressed cost / dense cost of `kind` or less."""

    kind: str
    ratio: float

    def __str__(self) -> str:
        return f"{self.kind}={self.ratio:g}"


@dataclass(frozen=True)
class LatencyOptions:
    """How a candidate's latency is measured: interleaved with the dense model, as `benchmark` does."""

    batch_size: int = 8
    repeats: int = 10
    warmup: int = 2


@dataclass(frozen=True)
class AutoConfig:
    target: Target
    tolerance: float  # top-1 points the result may lose on the validation split
    strategy: str = "greedy"
    step: float = 0.1  # each round removes this fraction of a layer's original filters
    hold_out: Tuple[str, ...] = ()  # regular expressions matched against whole layer names
    finetune_epochs: int = 5
    lr: Optional[float] = None  # default: a fifth of the dense run's learning rate
    calibration_batches: int = 8  # training batches that re-estimate BatchNorm statistics per candidate
    round_steps: int = 0  # SGD steps each candidate is fine-tuned for before it is scored
    eval_samples: Optional[int] = None  # validation images that score a candidate (None: the whole split)
    latency: LatencyOptions = LatencyOptions()
    device: str = "cpu"


def parse_target(text: str) -> Target:
    """`KIND=RATIO`, KIND one of KINDS, RATIO in (0, 1)."""
    kind, sep, value = (text or "").partition("=")
    kind = kind.strip().lower()
    if not sep:
        raise UserError(f"--target '{text}': expected KIND=RATIO, e.g. macs=0.5 (KIND: {', '.join(KINDS)})")
    if kind not in KINDS:
        raise UserError("--target: " + did_you_mean(kind, KINDS, "cost kind"))
    try:
        ratio = float(value)
    except ValueError:
        raise UserError(f"--target '{text}': '{value.strip()}' is not a number") from None
    if not math.isfinite(ratio) or not 0.0 < ratio < 1.0:
        raise UserError(f"--target '{text}': the ratio (compressed / dense) must be between 0 and 1, exclusive")
    return Target(kind, ratio)


def check_strategy(name: str) -> str:
    name = (name or "").strip().lower()
    if name not in STRATEGIES:
        raise UserError("--strategy: " + did_you_mean(name, STRATEGIES, "strategy"))
    if name not in AVAILABLE_STRATEGIES:
        raise UserError(f"--strategy {name} is not available yet; use --strategy greedy")
    return name


def check_config(config: AutoConfig) -> None:
    check_strategy(config.strategy)
    if not 0.0 < config.step < 1.0:
        raise UserError(f"--step {config.step:g}: a fraction of each layer's filters, between 0 and 1, exclusive")
    if not math.isfinite(config.tolerance) or config.tolerance < 0:
        raise UserError(f"--tolerance {config.tolerance:g}: top-1 points, 0 or more")
    if config.finetune_epochs < 1:
        raise UserError("--finetune-epochs must be at least 1: the schedule thins the model at the end of its "
                        "first epoch")
    if config.lr is not None and not config.lr > 0:
        raise UserError(f"--lr {config.lr:g}: must be positive")
