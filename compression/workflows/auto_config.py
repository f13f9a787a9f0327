"""What `compressor auto` is asked for: a cost target, an accuracy tolerance and how to search."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ..core.errors import UserError, did_you_mean

KINDS = ("macs", "params", "size", "latency")
STRATEGIES = ("greedy", "amc")
AMC_EPISODES = 100
AMC_MIN_KEEP = 0.2


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
class AmcOptions:
    """--amc-episodes, --amc-warmup, --amc-min-keep and --amc-file; None: not given (see `resolved`)."""

    episodes: Optional[int] = None
    warmup: Optional[int] = None  # episodes of uniformly random actions before the agent acts
    min_keep: Optional[float] = None  # the least fraction of a layer's channels an action keeps
    file: Optional[str] = None  # Distiller's AMC configuration: the layers the agent may prune, per model

    def given(self) -> List[str]:
        return [f"--amc-{name.replace('_', '-')}" for name in ("episodes", "warmup", "min_keep", "file")
                if getattr(self, name) is not None]

    def resolved(self) -> "AmcOptions":
        """The defaults filled in: 100 episodes, a quarter of them warm-up, keep at least 0.2."""
        episodes = AMC_EPISODES if self.episodes is None else self.episodes
        warmup = episodes // 4 if self.warmup is None else self.warmup
        return AmcOptions(episodes, warmup, AMC_MIN_KEEP if self.min_keep is None else self.min_keep, self.file)


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
    round_steps: int = 30  # SGD steps each candidate is fine-tuned for before it is scored (0: BatchNorm only)
    eval_samples: Optional[int] = None  # validation images that score a candidate (None: the whole split)
    latency: LatencyOptions = LatencyOptions()
    device: str = "cpu"
    amc: AmcOptions = AmcOptions()  # only with strategy amc


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
    return name


def check_config(config: AutoConfig) -> None:
    check_strategy(config.strategy)
    check_amc(config)
    if not 0.0 < config.step < 1.0:
        raise UserError(f"--step {config.step:g}: a fraction of each layer's filters, between 0 and 1, exclusive")
    if not math.isfinite(config.tolerance) or config.tolerance < 0:
        raise UserError(f"--tolerance {config.tolerance:g}: top-1 points, 0 or more")
    if config.finetune_epochs < 1:
        raise UserError("--finetune-epochs must be at least 1: the schedule thins the model at the end of its "
                        "first epoch")
    if config.lr is not None and not config.lr > 0:
        raise UserError(f"--lr {config.lr:g}: must be positive")


def check_amc(config: AutoConfig) -> None:
    given = config.amc.given()
    if config.strategy != "amc":
        if given:
            raise UserError(f"{', '.join(given)}: only with --strategy amc (the search is --strategy "
                            f"{config.strategy})")
        return
    amc = config.amc.resolved()
    if amc.episodes < 1:
        raise UserError(f"--amc-episodes {amc.episodes}: at least 1")
    if not 0 <= amc.warmup < amc.episodes:
        raise UserError(f"--amc-warmup {amc.warmup}: 0 or more and fewer than the {amc.episodes} episodes (the "
                        "agent acts after the warm-up)")
    if not math.isfinite(amc.min_keep) or not 0.0 < amc.min_keep <= 1.0:
        raise UserError(f"--amc-min-keep {amc.min_keep:g}: the least fraction of a layer's channels kept, in (0, 1]")
