"""resnet18 with 50% of its filters removed: the shipped schedule end to end, then measured.

1. `compressor train --schedule schedules/resnet18_filters_thin.yaml --dataset fake --epochs 1`
   (L1-ranked filter pruning at epoch 0, thinning at its end);
2. `compressor benchmark --checkpoint best.pt` against the dense resnet18: batch 8, 3x224x224,
   interleaved runs, medians.

    python benchmarks/resnet18_filters_thin.py [--repeats 20] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def cli(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "compressor.cli", *args, "--json"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = cli("train", "--schedule", "schedules/resnet18_filters_thin.yaml", "--dataset", "fake",
                     "--epochs", "1", "--out", tmp)
        bench = cli("benchmark", "--checkpoint", str(Path(tmp) / "best.pt"), "--batch-size", "8",
                    "--repeats", str(args.repeats), "--threads", str(args.threads))
    dense, thin = bench["baseline"], bench["candidate"]
    print(f"{'model':<10}{'params':>12}{'weights MB':>12}{'median ms':>11}{'images/s':>10}")
    print(f"{'dense':<10}{report['dense_params']:>12,}{report['dense_file_bytes'] / 1e6:>12.2f}"
          f"{dense['median_ms']:>11.2f}{dense['throughput']:>10.1f}")
    print(f"{'thinned':<10}{report['params']:>12,}{report['file_bytes'] / 1e6:>12.2f}"
          f"{thin['median_ms']:>11.2f}{thin['throughput']:>10.1f}")
    print(f"speedup {bench['speedup']:.2f}x (target >= 1.8x)")
    print(json.dumps({"benchmark": "resnet18_filters_thin", "speedup": bench["speedup"],
                      "dense_ms": dense["median_ms"], "thinned_ms": thin["median_ms"],
                      "dense_params": report["dense_params"], "params": report["params"],
                      "dense_file_bytes": report["dense_file_bytes"], "file_bytes": report["file_bytes"],
                      "checkpoint_bytes": report["checkpoint_bytes"], "batch_size": 8,
                      "threads": args.threads, "repeats": args.repeats}))


if __name__ == "__main__":
    main()
