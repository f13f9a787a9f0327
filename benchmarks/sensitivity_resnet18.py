"""Time of a pruning-sensitivity sweep on ResNet-18 (random weights), 256 fake 224x224 images.

The full grid is 21 Conv/Linear weights x 20 levels (0:0.95:0.05), element granularity. Each
(layer, level) is one evaluation of the fixed image subset (level 0 is evaluated once and
reused), so the sweep time is about evaluations x seconds per evaluation; the smaller grids
show that scaling. On a slow machine, skip the full grid and extrapolate from the small ones:

    python benchmarks/sensitivity_resnet18.py [--grids 2x3,5x5,21x20] [--samples 256] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from compressor.compression.model_source import load_model
from compressor.compression.sensitivity import parse_sparsities, sensitivity_sweep, validation_batches
from compressor.compression.sparsity import prunable_weights
from compressor.datasets import DatasetConfig

FULL_LEVELS = parse_sparsities("0:0.95:0.05")


def time_grid(loaded, batches, layers: int, levels: int, device) -> dict:
    names = [name for name, _ in prunable_weights(loaded.model)][:layers]
    grid = FULL_LEVELS[:levels]
    started = time.perf_counter()
    rows = sensitivity_sweep(loaded.model, batches, grid, "element", device, parameters=names)
    seconds = time.perf_counter() - started
    evaluations = 1 + len(names) * (len(grid) - 1) if grid[0] == 0 else len(names) * len(grid)
    return {"layers": len(names), "levels": len(grid), "rows": len(rows), "evaluations": evaluations,
            "seconds": round(seconds, 2), "per_evaluation": round(seconds / evaluations, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grids", default="2x3,5x5,21x20", help="layers x levels, comma separated")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    loaded = load_model(None, "resnet18")
    loaded.model.to(device)
    config = DatasetConfig(name="fake", size=4 * args.samples, batch_size=64)  # val = a quarter
    batches = validation_batches(loaded, config, args.samples, device)
    results = [time_grid(loaded, batches, *map(int, grid.split("x")), device) for grid in args.grids.split(",")]
    per_eval = min(r["per_evaluation"] for r in results)
    full_evaluations = 1 + len(prunable_weights(loaded.model)) * (len(FULL_LEVELS) - 1)
    print(f"{'layers':>6} {'levels':>6} {'evals':>6} {'seconds':>9} {'s/eval':>8}")
    for r in results:
        print(f"{r['layers']:>6} {r['levels']:>6} {r['evaluations']:>6} {r['seconds']:>9.2f} {r['per_evaluation']:>8.3f}")
    print(f"full grid 21x20: {full_evaluations} evaluations, estimated {full_evaluations * per_eval:.0f}s")
    print(json.dumps({"benchmark": "sensitivity_resnet18", "device": str(device), "samples": args.samples,
                      "threads": args.threads, "grids": results,
                      "full_grid_estimate_seconds": round(full_evaluations * per_eval, 1)}))


if __name__ == "__main__":
    main()
