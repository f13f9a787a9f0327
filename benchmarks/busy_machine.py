"""`compressor train` on a machine that other work keeps busy: wall time by thread count, and
whether the report says its latency cannot be trusted.

    python benchmarks/busy_machine.py [--schedule schedules/digits_agp.yaml] [--busy 2] [--threads 2 1]

Starts `--busy` processes that spin on the CPU, runs the schedule once per thread count (and once
with the default, no `--threads`), then stops them. Prints a table, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional


def _spin() -> None:
    while True:
        pass


def run_train(schedule: str, threads: Optional[int], folder: Path) -> dict:
    args = [sys.executable, "-m", "compressor.cli", "train", "--schedule", schedule, "--out", str(folder), "--json"]
    if threads is not None:
        args += ["--threads", str(threads)]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"train failed: {done.stderr.strip()[-500:]}")
    report = json.loads(done.stdout)
    return {"threads": threads or "default", "seconds": round(seconds, 2), "top1": report["top1"],
            "speedup_measurable": report.get("speedup_measurable"),
            "measurement_warnings": report.get("measurement_warnings") or []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", default="schedules/digits_agp.yaml")
    parser.add_argument("--busy", type=int, default=2, help="processes spinning on the CPU meanwhile")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    args = parser.parse_args()
    busy: List[multiprocessing.Process] = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for process in busy:
        process.start()
    results = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for index, threads in enumerate([None, *args.threads]):
                results.append(run_train(args.schedule, threads, Path(scratch) / f"run{index}"))
    finally:
        for process in busy:
            process.terminate()
    print(f"{'threads':<9} {'wall s':>7} {'top1':>6}  latency trusted")
    for row in results:
        trusted = "no: " + "; ".join(row["measurement_warnings"]) if row["measurement_warnings"] else "yes"
        print(f"{str(row['threads']):<9} {row['seconds']:>7.2f} {row['top1']:>6.2f}  {trusted}")
    print(json.dumps({"benchmark": "busy_machine", "busy_processes": args.busy, "runs": results}))


if __name__ == "__main__":
    main()
