"""Dense digits baseline: `compressor train --schedule schedules/digits_baseline.yaml` over seeds.

Reports test top-1 of the best (validation) model per seed, the mean, and wall time per run
(the whole command: start-up, 20 epochs, evaluation, run folder).

    python benchmarks/digits_baseline.py [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time


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
    parser.add_argument("--schedule", default="schedules/digits_baseline.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rows.append((seed, train(args.schedule, seed, f"{tmp}/s{seed}")))
    print(f"{'seed':>4} {'test top1':>10} {'best val':>9} {'wall s':>7}")
    for seed, report in rows:
        print(f"{seed:>4} {report['top1']:>10.2f} {report['best_val_top1']:>9.2f} {report['wall_s']:>7.1f}")
    top1 = [report["top1"] for _, report in rows]
    wall = [report["wall_s"] for _, report in rows]
    print(f"mean {statistics.mean(top1):>10.2f} {'':>9} {statistics.mean(wall):>7.1f}")
    print(json.dumps({"benchmark": "digits_baseline", "schedule": args.schedule, "seeds": args.seeds,
                      "test_top1": top1, "mean_test_top1": statistics.mean(top1), "mean_wall_s": statistics.mean(wall)}))


if __name__ == "__main__":
    main()
