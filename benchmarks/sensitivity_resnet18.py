"""Time of a pruning-sensitivity sweep on ResNet-18 (random weights), 256 fake 224x224 images.

The full grid is 21 Conv/Linear weights x 20 levels (0:0.95:0.05), element granularity. Each
(layer, level) is one evaluation of the fixed image subset (level 0 is evaluated once and
reused), so the sweep time is about evaluations x seconds per evaluation, where
evaluations = 1 + layers x (levels - 1). The small default grids show that scaling and give
an estimate for the full grid; run the full grid itself (about 400 evaluations) with:

    python benchmarks/sensitivity_resnet18.py --grids 21x20

Options: [--grids 2x3,3x4] [--repeats 3] [--samples 256] [--batch-size 64] [--threads 2] [--device cpu]
Each grid runs --repeats times after one untimed warm-up evaluation; the table and the JSON
line give medians, in wall-clock and in process CPU seconds (the CPU figure moves less when
other jobs share the machine; the load average is printed so a busy machine shows).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from compressor.compression.model_source import load_model
from compressor.compression.sparsity import prunable_weights
from compressor.compression.workflows.sensitivity import baseline_top1, sensitivity_sweep
from compressor.compression.workflows.sensitivity_levels import parse_sparsities
from compressor.compression.workflows.sensitivity_data import validation_batches
from compressor.datasets import DatasetConfig

FULL_LEVELS = parse_sparsities("0:0.95:0.05")


def evaluations(layers: int, levels) -> int:
    return 1 + layers * (len(levels) - 1) if levels[0] == 0 else layers * len(levels)


def timed_sweep(model, batches, names, grid, device):
    wall, cpu = time.perf_counter(), time.process_time()
    rows = sensitivity_sweep(model, batches, grid, "element", device, parameters=names)
    return len(rows), time.perf_counter() - wall, time.process_time() - cpu


def time_grid(loaded, batches, layers: int, levels: int, device, repeats: int) -> dict:
    names = [name for name, _ in prunable_weights(loaded.model)][:layers]
    grid = FULL_LEVELS[:levels]
    runs = [timed_sweep(loaded.model, batches, names, grid, device) for _ in range(repeats)]
    count = evaluations(len(names), grid)
    seconds = statistics.median(run[1] for run in runs)
    cpu = statistics.median(run[2] for run in runs)
    return {"layers": len(names), "levels": len(grid), "rows": runs[0][0], "evaluations": count,
            "seconds": round(seconds, 2), "per_evaluation": round(seconds / count, 3),
            "cpu_seconds": round(cpu, 2), "cpu_per_evaluation": round(cpu / count, 3),
            "runs_seconds": [round(run[1], 2) for run in runs]}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", default="2x3,3x4",
                        help="layers x levels, comma separated; 21x20 is the full grid")
    parser.add_argument("--repeats", type=int, default=3, help="runs per grid; the medians are reported")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64,
                        help="images per loaded batch (on CPU the sweep evaluates 224x224 images 8 at a time)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


def print_report(args, device, results, full_evaluations, per_eval) -> None:
    print(f"{'layers':>6} {'levels':>6} {'evals':>6} {'seconds':>9} {'s/eval':>8} {'cpu s/eval':>10}")
    for r in results:
        print(f"{r['layers']:>6} {r['levels']:>6} {r['evaluations']:>6} {r['seconds']:>9.2f} "
              f"{r['per_evaluation']:>8.3f} {r['cpu_per_evaluation']:>10.3f}")
    load = [round(value, 2) for value in os.getloadavg()]
    print(f"full grid 21x20: {full_evaluations} evaluations, estimated {full_evaluations * per_eval:.0f}s "
          f"({per_eval:.3f} s/eval, median of the grids above); load average {load}")
    print(json.dumps({"benchmark": "sensitivity_resnet18", "device": str(device), "samples": args.samples,
                      "batch_size": args.batch_size, "threads": args.threads, "repeats": args.repeats,
                      "grids": results, "full_grid_evaluations": full_evaluations,
                      "full_grid_estimate_seconds": round(full_evaluations * per_eval, 1),
                      "load_average": load, "torch": torch.__version__}))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    loaded = load_model(None, "resnet18")
    loaded.model.to(device)
    config = DatasetConfig(name="fake", size=4 * args.samples, batch_size=args.batch_size)  # val = a quarter
    batches = validation_batches(loaded, config, args.samples, device)
    baseline_top1(loaded.model, batches, device)  # warm-up, untimed
    grids = [tuple(map(int, grid.lower().split("x"))) for grid in args.grids.split(",")]
    results = [time_grid(loaded, batches, layers, levels, device, args.repeats) for layers, levels in grids]
    per_eval = statistics.median(r["per_evaluation"] for r in results)
    full_evaluations = evaluations(len(prunable_weights(loaded.model)), FULL_LEVELS)
    print_report(args, device, results, full_evaluations, per_eval)


if __name__ == "__main__":
    main()
