"""`compressor sensitivity` in one process vs two under torchrun: the same CSV, and the wall time of each.

The grid is fashion_cnn's 4 Conv/Linear weights x 4 levels (0, 0.3, 0.6, 0.9) on the first
--eval-samples Fashion-MNIST validation images. One process uses --threads 2 (both cores); under
torchrun each of the 2 processes uses one thread and scores every other (layer, level) pair.
Runs alternate (one, two, one, two, ...) so a change in the machine's load hits both alike; the
table gives medians with min-max of the sweep (the JSON's `seconds`) and of the whole command.

    python benchmarks/sensitivity_processes.py [--checkpoint best.pt] [--eval-samples 4096] [--repeats 3]

Without --checkpoint the model is fashion_cnn with random weights (the timing is the same; the
sweep's numbers then mean nothing, and the command says so).
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
import time
from pathlib import Path
from typing import Dict, List


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(processes: int, model_args: List[str], samples: int, out: Path) -> List[str]:
    args = ["sensitivity", *model_args, "--sparsities", "0,0.3,0.6,0.9", "--eval-samples", str(samples),
            "--out", str(out), "--json"]
    if processes == 1:
        return [sys.executable, "-m", "compressor.cli", *args, "--threads", "2"]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--nnodes=1",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "compressor.cli", *args,
            "--threads", "1"]


def timed(processes: int, model_args: List[str], samples: int, out: Path) -> Dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(command(processes, model_args, samples, out), capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1" if processes > 1 else "2"})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{processes} process(es) failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"command_s": wall, "sweep_s": report["seconds"], "evaluations": report["evaluations"]}


def spread(values: List[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a fashion_cnn checkpoint (default: random weights)")
    parser.add_argument("--eval-samples", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model_args = ["--checkpoint", args.checkpoint] if args.checkpoint else ["--arch", "fashion_cnn"]
    results: Dict[int, List[Dict[str, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for processes in (1, 2):
                results[processes].append(timed(processes, model_args, args.eval_samples,
                                                Path(folder) / f"p{processes}-r{repeat}"))
        csvs = {(Path(folder) / f"p{p}-r{r}" / "sensitivity.csv").read_text() for p in (1, 2) for r in (0,)}
        same = len(csvs) == 1
    rows = {p: {"sweep": [r["sweep_s"] for r in runs], "command": [r["command_s"] for r in runs]}
            for p, runs in results.items()}
    print(f"fashion_cnn, 4 layers x 4 levels, {args.eval_samples} validation images, "
          f"{results[1][0]['evaluations']} rows; load average {os.getloadavg()[0]:.2f}")
    print(f"{'processes':<22}{'sweep':<26}{'whole command':<26}")
    print(f"{'1 (2 threads)':<22}{spread(rows[1]['sweep']):<26}{spread(rows[1]['command']):<26}")
    print(f"{'2, torchrun (1 each)':<22}{spread(rows[2]['sweep']):<26}{spread(rows[2]['command']):<26}")
    speedup = statistics.median(rows[1]["sweep"]) / statistics.median(rows[2]["sweep"])
    print(f"same CSV: {same}; sweep speed-up of 2 processes: {speedup:.2f}x")
    print(json.dumps({"benchmark": "sensitivity_processes", "eval_samples": args.eval_samples,
                      "same_csv": same, "one_process": rows[1], "two_processes": rows[2],
                      "sweep_speedup": round(speedup, 3)}))


if __name__ == "__main__":
    main()
