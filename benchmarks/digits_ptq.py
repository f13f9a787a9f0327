"""Digits int8 PTQ: FP32 vs `compressor quantize --stats` vs torch.ao's default x86 PTQ.

Per seed: train schedules/digits_baseline.yaml, collect statistics on 256 training images,
quantize (8-bit, per-channel weights, each clip mode given), and convert the same FP32 model
with torch.ao's default x86 PTQ as torch.ao ships it (its qconfig mapping and observers,
the same 256 calibration images). All run on the test split on the same int8 kernels and
are scored by top-1 and by the SQNR of their logits against FP32's (higher is closer; top-1
moves by whole images, 0.28 point each, so the SQNR separates methods top-1 cannot).

    python benchmarks/digits_ptq.py [--seeds 0 1 2] [--clip-acts AVG MSE]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict

import torch

from compressor.compression.model_source import load_model, test_loader
from compressor.compression.quantization.int8_files import load_int8_torchscript
from compressor.compression.quantization.stats import calibration_loader
from compressor.datasets import DatasetConfig
from torch_ao_reference import torch_ao_int8

DIGITS = DatasetConfig(name="digits")


def cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "compressor.cli", *args, "--json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def score(models: Dict[str, Callable], checkpoint: Path) -> Dict[str, tuple]:
    """name -> (test top-1 %, SQNR dB of the logits against the first model's)."""
    loaded = load_model(str(checkpoint))
    images, labels = (torch.cat(parts) for parts in zip(*test_loader(loaded, DIGITS)))
    with torch.no_grad():
        logits = {name: model(images).float() for name, model in models.items()}
    reference = next(iter(logits.values()))
    return {name: (top1(out, labels), sqnr_db(reference, out)) for name, out in logits.items()}


def top1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent correct, ties between int8 logits broken as `compressor` reports them (by topk)."""
    return (logits.topk(1, dim=1).indices[:, 0] == labels).float().mean().item() * 100


def sqnr_db(reference: torch.Tensor, approximation: torch.Tensor) -> float:
    noise = (reference - approximation).pow(2).sum().item()
    return math.inf if noise == 0 else 10 * math.log10(reference.pow(2).sum().item() / noise)


def one_seed(seed: int, clips, tmp: Path) -> Dict[str, tuple]:
    run = tmp / f"s{seed}"
    cli("train", "--schedule", "schedules/digits_baseline.yaml", "--seed", str(seed), "--out", str(run))
    checkpoint = run / "best.pt"
    cli("quantize", "--checkpoint", str(checkpoint), "--collect-stats", str(run / "stats.yaml"))
    torch.backends.quantized.engine = "x86"
    models = {"fp32": load_model(str(checkpoint)).model.eval()}
    for clip in clips:
        report = cli("quantize", "--checkpoint", str(checkpoint), "--stats", str(run / "stats.yaml"),
                     "--per-channel", "--clip-acts", clip, "--out", str(run / clip))
        models[f"ours {clip}"] = load_int8_torchscript(report["files"]["int8_model"])
    calibration = [images for images, _ in calibration_loader(load_model(str(checkpoint)).info, DIGITS, 256)]
    models["torch.ao x86"] = torch_ao_int8(load_model(str(checkpoint)).model.eval(), calibration)
    return score(models, checkpoint)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--clip-acts", nargs="+", default=["AVG", "MSE"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {seed: one_seed(seed, args.clip_acts, Path(tmp)) for seed in args.seeds}
    names = list(next(iter(results.values())))
    print(f"{'seed':>4}" + "".join(f"{name:>22}" for name in names))
    for seed, row in results.items():
        print(f"{seed:>4}" + "".join(f"{row[n][0]:>13.2f}% {row[n][1]:>5.1f}dB" for n in names))
    means = {n: (statistics.mean(r[n][0] for r in results.values()), statistics.mean(r[n][1] for r in results.values()))
             for n in names[1:]}
    fp32_mean = statistics.mean(r["fp32"][0] for r in results.values())
    print(f"mean{fp32_mean:>13.2f}%   ref" + "".join(f"{top1:>13.2f}% {db:>5.1f}dB" for top1, db in means.values())
          + "  (top-1 and logit SQNR vs FP32; targets: drop <= 0.5 point, ours >= torch.ao)")
    print(json.dumps({"benchmark": "digits_ptq", "seeds": args.seeds, "fp32_top1": fp32_mean,
                      "top1": {n: m[0] for n, m in means.items()}, "sqnr_db": {n: m[1] for n, m in means.items()},
                      "per_seed": {seed: {n: list(v) for n, v in row.items()} for seed, row in results.items()}}))


if __name__ == "__main__":
    main()
