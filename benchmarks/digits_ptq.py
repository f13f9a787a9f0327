"""Digits int8 PTQ: FP32 vs `compressor quantize --stats` vs torch.ao's default x86 PTQ.

Per seed: train schedules/digits_baseline.yaml, collect statistics on 256 training images,
quantize (8-bit, per-channel weights, the clip mode given), and convert the same FP32 model
with torch.ao's default x86 settings (its own observers, same 256 calibration images).
All three are evaluated on the test split; both int8 models run on the same int8 kernels.

    python benchmarks/digits_ptq.py [--seeds 0 1 2] [--clip-acts AVG]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from compressor.compression.model_source import load_model, test_loader
from compressor.compression.quantization.int8_backend import convert_to_int8
from compressor.compression.quiet import CallableModule
from compressor.compression.quantization.stats import calibration_loader
from compressor.compression.training.loop import evaluate
from compressor.datasets import DatasetConfig


def cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "compressor.cli", *args, "--json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def torch_ao_top1(checkpoint: Path) -> float:
    loaded = load_model(str(checkpoint))
    config = DatasetConfig(name="digits")
    calibration = [images for images, _ in calibration_loader(loaded, config, 256)]
    int8 = convert_to_int8(loaded.model.eval(), (calibration[0][:1],), calibration)
    return evaluate(CallableModule(int8), test_loader(loaded, config), nn.CrossEntropyLoss(), torch.device("cpu")).top1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--clip-acts", default="AVG")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            run = Path(tmp) / f"s{seed}"
            cli("train", "--schedule", "schedules/digits_baseline.yaml", "--seed", str(seed), "--out", str(run))
            cli("quantize", "--checkpoint", str(run / "best.pt"), "--collect-stats", str(run / "stats.yaml"))
            ours = cli("quantize", "--checkpoint", str(run / "best.pt"), "--stats", str(run / "stats.yaml"),
                       "--per-channel", "--clip-acts", args.clip_acts, "--out", str(run / "q"))
            rows.append((seed, ours["fp32_top1"], ours["top1"], torch_ao_top1(run / "best.pt")))
    print(f"{'seed':>4}{'fp32':>9}{'compressor int8':>17}{'torch.ao int8':>15}")
    for seed, fp32, ours, theirs in rows:
        print(f"{seed:>4}{fp32:>9.2f}{ours:>17.2f}{theirs:>15.2f}")
    means = [statistics.mean(row[i] for row in rows) for i in (1, 2, 3)]
    print(f"mean{means[0]:>9.2f}{means[1]:>17.2f}{means[2]:>15.2f}  (drop {means[0] - means[1]:.2f} points; target <= 0.5)")
    print(json.dumps({"benchmark": "digits_ptq", "seeds": args.seeds, "clip_acts": args.clip_acts,
                      "fp32_top1": means[0], "int8_top1": means[1], "torch_ao_int8_top1": means[2],
                      "per_seed": [{"seed": r[0], "fp32": r[1], "int8": r[2], "torch_ao": r[3]} for r in rows]}))


if __name__ == "__main__":
    main()
