"""Digits under torchrun: 2 CPU processes (gloo on 127.0.0.1) against 1, same schedule and seeds.

One process gets all threads (2 here); each of the 2 processes gets half of them, so both
sides use the same cores. `batch_size` is per process, so the 2-process run takes half as
many steps per epoch with twice the effective batch. Reports test top-1 of the best model and
the median epoch time (training + validation, from metrics.jsonl).

    python benchmarks/distributed_digits.py [--schedule schedules/digits_baseline.yaml] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(processes: int, schedule: str, seed: int, out: str):
    train = ["train", "--schedule", schedule, "--seed", str(seed), "--out", out, "--json"]
    if processes == 1:
        return [sys.executable, "-m", "compressor.cli", *train]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--nnodes=1",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "compressor.cli", *train]


def train(processes: int, schedule: str, seed: int, out: str, cores: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(max(cores // processes, 1))}
    result = subprocess.run(command(processes, schedule, seed, out), env=env, capture_output=True, text=True,
                            check=True)
    report = json.loads(result.stdout)
    epochs = [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines() if line]
    report["epoch_s"] = statistics.median(record["epoch_seconds"] for record in epochs)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedule", default="schedules/digits_baseline.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    runs = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for processes in runs:
                runs[processes].append(train(processes, args.schedule, seed, f"{tmp}/p{processes}s{seed}", args.cores))
    print(f"{'processes':<10}{'seed':>5}{'test top1':>11}{'epoch s':>9}")
    for processes, reports in runs.items():
        for seed, report in zip(args.seeds, reports):
            print(f"{processes:<10}{seed:>5}{report['top1']:>11.2f}{report['epoch_s']:>9.3f}")
    summary = {f"p{p}": {"mean_top1": statistics.mean(r["top1"] for r in reports),
                         "median_epoch_s": statistics.median(r["epoch_s"] for r in reports),
                         "top1": [r["top1"] for r in reports]} for p, reports in runs.items()}
    for processes in runs:
        print(f"{processes} process(es): mean test top-1 {summary[f'p{processes}']['mean_top1']:.2f}%, "
              f"median epoch {summary[f'p{processes}']['median_epoch_s']:.3f} s")
    print(json.dumps({"benchmark": "distributed_digits", "schedule": args.schedule, "seeds": args.seeds,
                      "cores": args.cores, **summary}))


if __name__ == "__main__":
    main()
