"""Do engines timed side by side get the latency each gets alone? FP32 PyTorch eager, onnxruntime and
OpenVINO on one model (random weights), batch 8:

- alone: each engine timed in its own run (`measure_latency` with that model only);
- interleaved: all three in one run, as `benchmark`, `quantize` and `train`'s report time them;
- one pass per turn: all three in one run, one timed pass per model per round with no untimed
  passes in between (how the interleaved runs were timed before): the worker threads of the
  engine before (OpenMP's, onnxruntime's, OpenVINO's) still spin when the next one starts.

Each cell is the median of the run's medians over --runs runs, the three kinds alternating.

    python benchmarks/engine_interleaving.py [--runs 3] [--repeats 20] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Dict, List

import torch

from compressor.compression.benchmark import LatencyResult, measure_latency
from compressor.compression.engines.models import fp32_engine_models
from compressor.compression.models import build_model

MODELS = {"digits_cnn": (1, 8, 8), "fashion_cnn": (1, 28, 28), "mobilenet_v2": (3, 64, 64),
          "resnet18": (3, 112, 112)}
KINDS = ("alone", "interleaved", "one pass per turn")


def one_pass_per_turn(models: Dict[str, torch.nn.Module], shape, repeats: int) -> Dict[str, float]:
    """The loop interleaved runs used before: every model once per round, back to back, 3 rounds of warm-up."""
    batch = torch.randn(8, *shape)
    times: Dict[str, List[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for round_index in range(3 + repeats):
            for name in (list(models) if round_index % 2 == 0 else list(models)[::-1]):
                start = time.perf_counter()
                models[name](batch)
                if round_index >= 3:
                    times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(samples) for name, samples in times.items()}


def medians(results: Dict[str, LatencyResult]) -> Dict[str, float]:
    return {name: result.median_ms for name, result in results.items()}


def measure(arch: str, shape, runs: int, repeats: int) -> Dict[str, Dict[str, float]]:
    torch.manual_seed(0)
    model = build_model(arch, num_classes=10, input_shape=shape).eval()
    with tempfile.TemporaryDirectory() as folder:
        engines, _ = fp32_engine_models(model, torch.zeros(1, *shape), folder)
        seen: Dict[str, Dict[str, List[float]]] = {kind: {name: [] for name in engines} for kind in KINDS}
        for _ in range(runs):
            for name, engine in engines.items():
                seen["alone"][name].append(measure_latency({name: engine}, shape, repeats=repeats)[name].median_ms)
            for name, value in medians(measure_latency(engines, shape, repeats=repeats)).items():
                seen["interleaved"][name].append(value)
            for name, value in one_pass_per_turn(engines, shape, repeats).items():
                seen["one pass per turn"][name].append(value)
    return {kind: {name: statistics.median(values) for name, values in by_engine.items()}
            for kind, by_engine in seen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    table = {arch: measure(arch, shape, args.runs, args.repeats) for arch, shape in MODELS.items()}
    print(f"{'model':14} {'engine':12} " + " ".join(f"{kind + ' ms':>20}" for kind in KINDS)
          + f" {'interleaved / alone':>20} {'one pass / alone':>17}")
    for arch, kinds in table.items():
        for engine, alone in kinds["alone"].items():
            cells = " ".join(f"{kinds[kind][engine]:20.3f}" for kind in KINDS)
            print(f"{arch:14} {engine:12} {cells} {kinds['interleaved'][engine] / alone:20.2f}"
                  f" {kinds['one pass per turn'][engine] / alone:17.2f}")
    print(json.dumps({"threads": torch.get_num_threads(), "runs": args.runs, "repeats": args.repeats,
                      "median_ms": table}))


if __name__ == "__main__":
    main()
