"""Digits: the dense baseline and the AGP main job, same seeds, test top-1 of each run's best model.

Runs `compressor train --schedule S --seed N --json` for each schedule and seed and reports
test top-1, sparsity and wall time (the whole command: start-up, training, report).

    python benchmarks/digits_accuracy.py [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

SCHEDULES = {"dense": "schedules/digits_baseline.yaml", "agp": "schedules/digits_agp.yaml"}


def train(schedule: str, seed: int, out: str) -> dict:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "compressor.cli", "train", "--schedule", schedule,
                             "--seed", str(seed), "--out", out, "--json"],
                            capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    report["wall_s"] = time.perf_counter() - start
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    runs = {name: [] for name in SCHEDULES}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name, schedule in SCHEDULES.items():
                runs[name].append(train(schedule, seed, f"{tmp}/{name}{seed}"))
    print(f"{'run':<6}{'seed':>5}{'test top1':>11}{'sparsity':>10}{'wall s':>8}")
    for name, reports in runs.items():
        for seed, report in zip(args.seeds, reports):
            print(f"{name:<6}{seed:>5}{report['top1']:>11.2f}{report['sparsity']:>10.1%}{report['wall_s']:>8.1f}")
    means = {name: statistics.mean(r["top1"] for r in reports) for name, reports in runs.items()}
    print(f"mean test top1: dense {means['dense']:.2f}, agp {means['agp']:.2f}, "
          f"difference {means['dense'] - means['agp']:.2f} points (target <= 0.5)")
    print(json.dumps({"benchmark": "digits_accuracy", "seeds": args.seeds,
                      **{f"{name}_top1": [r["top1"] for r in reports] for name, reports in runs.items()},
                      **{f"{name}_mean_top1": value for name, value in means.items()},
                      "agp_sparsity": statistics.mean(r["sparsity"] for r in runs["agp"]),
                      **{f"{name}_mean_wall_s": statistics.mean(r["wall_s"] for r in reports)
                         for name, reports in runs.items()}}))


if __name__ == "__main__":
    main()
