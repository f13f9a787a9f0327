"""Measured latency and throughput of models run side by side: interleaved repetitions, medians."""
from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .core.errors import UserError
from .device import available_cores
from .model_source import LoadedModel
from .models import ModelInfo, build_model

Device = Union[str, torch.device]

# A latency whose 10th-90th percentile spread exceeds this fraction of its median is not to be trusted.
SPREAD_LIMIT = 0.25
# Timed passes of a model in a row, after SETTLE_MS (milliseconds) of untimed ones (see measure_latency).
BLOCK = 4
SETTLE_MS = 20.0


@dataclass(frozen=True)
class LatencyResult:
    """Wall-clock time of one forward pass over a batch, over `repeats` measured runs."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    max_ms: float
    throughput: float  # images per second at the median latency
    batch_size: int
    repeats: int
    samples_ms: Tuple[float, ...] = field(default=(), repr=False)  # each measured run, in round order

    def to_dict(self) -> Dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "samples_ms"}

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], batch_size: int) -> "LatencyResult":
        """The summary of measured runs (milliseconds per batch of `batch_size`)."""
        ordered = sorted(samples_ms)
        median = statistics.median(ordered)
        return cls(median_ms=median, p10_ms=_percentile(ordered, 0.10), p90_ms=_percentile(ordered, 0.90),
                   min_ms=ordered[0], max_ms=ordered[-1],
                   throughput=batch_size / (median / 1000.0) if median > 0 else float("inf"),
                   batch_size=batch_size, repeats=len(ordered), samples_ms=tuple(samples_ms))

    @property
    def spread(self) -> float:
        """10th to 90th percentile, as a fraction of the median."""
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms > 0 else float("inf")


def measure_latency(models: Dict[str, nn.Module], input_shape: Sequence[int], batch_size: int = 8,
                    warmup: int = 3, repeats: int = 20, device: Device = "cpu",
                    threads: Optional[int] = None, seed: int = 0) -> Dict[str, LatencyResult]:
    """Time every model on the same random batch, in one interleaved run.

    Each round runs every model in turn, the order reversed every other round, so drifts in
    machine load (frequency scaling, other processes) hit all models alike. A model's turn first
    runs it untimed for SETTLE_MS (at least once), then times up to BLOCK passes: the worker
    threads of the model before (OpenMP's, onnxruntime's, OpenVINO's) keep spinning for a while
    after it returns and would otherwise slow the next model's passes, two to three times for
    short ones. The first `warmup` rounds only run the models, untimed. Models are moved to
    `device` (in place) and run in eval mode under `torch.inference_mode()`; their train/eval
    mode is restored afterwards.
    """
    _check_options(models, batch_size, warmup, repeats, threads)
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    batch = torch.randn(batch_size, *input_shape, generator=generator).to(device)
    names = list(models)
    times: Dict[str, List[float]] = {name: [] for name in names}
    modes = {name: model.training for name, model in models.items()}
    try:
        with _thread_count(threads), torch.inference_mode():
            for model in models.values():
                model.to(device).eval()
            for round_index in range(warmup + -(-repeats // BLOCK)):
                order = names if round_index % 2 == 0 else names[::-1]
                timed = 0 if round_index < warmup else min(BLOCK, repeats - len(times[names[0]]))
                for name in order:
                    _settle(models[name], batch, device)
                    times[name].extend(_time_forward(models[name], batch, device) for _ in range(timed))
    finally:
        for name, model in models.items():
            model.train(modes[name])
    return {name: LatencyResult.from_samples(times[name], batch_size) for name in names}


def compare(candidate: nn.Module, baseline: nn.Module, input_shape: Sequence[int],
            **options: Any) -> Dict[str, Any]:
    """Latency of both models in one interleaved run; `speedup` = baseline median / candidate median.

    `options` are those of `measure_latency` (batch_size, warmup, repeats, device, threads, seed).
    """
    results = measure_latency({"candidate": candidate, "baseline": baseline}, input_shape, **options)
    return {
        "candidate": results["candidate"].to_dict(),
        "baseline": results["baseline"].to_dict(),
        **speedup_summary(results["candidate"], results["baseline"]),
        "batch_size": results["candidate"].batch_size,
        "input_shape": list(input_shape),
    }


def compare_loaded(candidate: LoadedModel, baseline: LoadedModel, candidate_name: str,
                   baseline_name: str, **options: Any) -> Dict[str, Any]:
    """`compare` for two loaded models, each result labelled with its name and arch."""
    shape = shared_input_shape(candidate.info, baseline.info)
    result = compare(candidate.model, baseline.model, shape, **options)
    result["candidate"] = {"name": candidate_name, "arch": candidate.info.name, **result["candidate"]}
    result["baseline"] = {"name": baseline_name, "arch": baseline.info.name, **result["baseline"]}
    return result


def dense_counterpart(loaded: LoadedModel) -> LoadedModel:
    """The same architecture built fresh: unpruned, unthinned, random weights (only its shape is timed)."""
    model = build_model(loaded.info.name, num_classes=loaded.info.num_classes, input_shape=loaded.info.input_shape)
    return LoadedModel(model, loaded.info)


def shared_input_shape(first: ModelInfo, second: ModelInfo) -> tuple:
    if tuple(first.input_shape) != tuple(second.input_shape):
        raise UserError(f"cannot compare '{first.name}' (input {_shape(first.input_shape)}) with "
                        f"'{second.name}' (input {_shape(second.input_shape)}): the input shapes differ")
    return tuple(first.input_shape)


def speedup(candidate: LatencyResult, baseline: LatencyResult) -> float:
    return baseline.median_ms / candidate.median_ms if candidate.median_ms > 0 else float("inf")


def speedup_summary(candidate: LatencyResult, baseline: LatencyResult,
                    names: Tuple[str, str] = ("model", "comparison")) -> Dict[str, Any]:
    """`speedup` (baseline median / candidate median) with its spread and what can be said of it.

    `speedup_low`/`speedup_high`: 10th and 90th percentiles of the ratio in each round (the two
    models ran back to back, so a change in the machine's load hits both). `speedup_measurable`
    is False when that interval holds 1.0: no difference this measurement can tell.
    `measurement_warnings`: reasons not to trust the figures (a wide spread, a busy machine).
    """
    value = speedup(candidate, baseline)
    ratios = sorted(b / c for b, c in zip(baseline.samples_ms, candidate.samples_ms) if c > 0)
    low, high = (_percentile(ratios, 0.10), _percentile(ratios, 0.90)) if ratios else (value, value)
    return {"speedup": value, "speedup_low": low, "speedup_high": high,
            "speedup_measurable": not low <= 1.0 <= high,
            "measurement_warnings": measurement_warnings({names[0]: candidate, names[1]: baseline})}


def measurement_warnings(results: Dict[str, LatencyResult]) -> List[str]:
    """Why the latencies in `results` may not be trusted: a spread too wide, a machine too busy."""
    warnings = [f"{name}: latency varied by {result.spread:.0%} of its median (10th to 90th percentile): "
                f"too wide to trust" for name, result in results.items() if result.spread > SPREAD_LIMIT]
    load, cores = _load_average(), available_cores()
    if load is not None and load > cores:
        warnings.append(f"the machine was busy: 1-minute load average {load:.1f} above the {cores} cores this "
                        "process may use")
    return warnings


def _load_average() -> Optional[float]:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def _check_options(models: Dict[str, nn.Module], batch_size: int, warmup: int, repeats: int,
                   threads: Optional[int]) -> None:
    if not models:
        raise UserError("no models to benchmark")
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    if repeats < 1:
        raise UserError(f"repeats must be at least 1, got {repeats}")
    if warmup < 0:
        raise UserError(f"warmup must be 0 or more, got {warmup}")
    if threads is not None and threads < 1:
        raise UserError(f"threads must be at least 1, got {threads}")


@contextmanager
def _thread_count(threads: Optional[int]) -> Iterator[None]:
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _settle(model: nn.Module, batch: torch.Tensor, device: torch.device) -> None:
    """Untimed passes until SETTLE_MS have gone by (at least one)."""
    start = time.perf_counter()
    model(batch)
    _synchronize(device)
    while (time.perf_counter() - start) * 1000.0 < SETTLE_MS:
        model(batch)
        _synchronize(device)


def _time_forward(model: nn.Module, batch: torch.Tensor, device: torch.device) -> float:
    """Milliseconds for one forward pass; on CUDA, waits for the kernels to finish."""
    _synchronize(device)
    start = time.perf_counter()
    model(batch)
    _synchronize(device)
    return (time.perf_counter() - start) * 1000.0


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _percentile(ordered: List[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(size) for size in shape)
