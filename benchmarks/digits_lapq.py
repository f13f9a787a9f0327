"""Digits LAPQ: 4-bit weights, 8-bit activations; LAPQ against every fixed clip mode on the same model.

Per seed: train schedules/digits_baseline.yaml (or reuse the checkpoint already in --work),
collect statistics on the first 256 training images, then quantize the same model with each
clip mode `quantize --clip-acts` offers (N_STD with 3 standard deviations) and with
`quantize --lapq` (its defaults: L3 start, 2 Powell iterations, loss on the 256 calibration
images), all through `quantize`'s own workflow. 4-bit weights have no int8 kernel, so each
is scored by the test top-1 of its simulated (fake-quantized) model, as `quantize` reports it.

    python benchmarks/digits_lapq.py [--seeds 0 1 2] [--work runs/lapq-bench] [--per-channel] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

import torch

from compressor.cli.quantize_render import quantize_data
from compressor.compression.model_source import load_model
from compressor.compression.quantization.lapq_settings import LapqSettings
from compressor.compression.quantization.ptq_config import PostTrainConfig
from compressor.compression.quantization.ranges import CLIP_MODES
from compressor.compression.quantization.stats import collect_activation_stats
from compressor.compression.workflows.post_training import quantize_post_training
from compressor.datasets import DatasetConfig

DIGITS = DatasetConfig(name="digits")
CALIBRATION = 256


def trained_checkpoint(seed: int, work: Path) -> Path:
    checkpoint = work / f"s{seed}" / "best.pt"
    if not checkpoint.is_file():
        subprocess.run([sys.executable, "-m", "compressor.cli", "train", "--schedule", "schedules/digits_baseline.yaml",
                        "--seed", str(seed), "--out", str(checkpoint.parent), "--overwrite", "--json"],
                       check=True, capture_output=True)
    return checkpoint


def one_seed(seed: int, work: Path, per_channel: bool) -> Dict[str, float]:
    """Method -> simulated test top-1 (%), with 'fp32' and the LAPQ losses."""
    loaded = load_model(str(trained_checkpoint(seed, work)))
    data = quantize_data(loaded, DIGITS, CALIBRATION)
    stats = collect_activation_stats(loaded.model, data.calibration)
    base = dict(bits_parameters=4, bits_activations=8, per_channel_wts=per_channel)
    row: Dict[str, float] = {}
    with tempfile.TemporaryDirectory() as out:
        for clip in CLIP_MODES:
            config = PostTrainConfig(**base, clip_acts=clip, clip_n_stds=3.0 if clip == "N_STD" else None)
            report = quantize_post_training(loaded, config, stats, data, Path(out), torch.device("cpu")).report
            row["fp32"], row[clip] = report["fp32_top1"], report["simulated_top1"]
        started = time.perf_counter()
        report = quantize_post_training(loaded, PostTrainConfig(**base), stats, data, Path(out), torch.device("cpu"),
                                        lapq=LapqSettings()).report
        row["LAPQ"] = report["simulated_top1"]
        row.update({f"lapq_{key}": report["lapq"][key] for key in ("initial_loss", "loss", "evaluations")})
        row["lapq_seconds"] = time.perf_counter() - started
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, help="Keep the trained checkpoints here and reuse them.")
    parser.add_argument("--per-channel", action="store_true", help="Per-channel weight scales (default per tensor).")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: an accuracy figure, float sums in one order on any machine).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        results = {seed: one_seed(seed, work, args.per_channel) for seed in args.seeds}
    methods = [*CLIP_MODES, "LAPQ"]
    drops = {m: statistics.mean(r["fp32"] - r[m] for r in results.values()) for m in methods}
    print(f"digits_cnn, 4-bit weights ({'per channel' if args.per_channel else 'per tensor'}), 8-bit activations: "
          "test top-1 of the simulated (fake-quantized) model; 4-bit weights have no int8 kernel")
    print(f"{'seed':>4}{'FP32':>8}" + "".join(f"{m:>11}" for m in methods) + "   LAPQ loss start -> end (evals, s)")
    for seed, r in results.items():
        print(f"{seed:>4}{r['fp32']:>8.2f}" + "".join(f"{r[m]:>11.2f}" for m in methods)
              + f"   {r['lapq_initial_loss']:.3g} -> {r['lapq_loss']:.3g} ({r['lapq_evaluations']}, "
                f"{r['lapq_seconds']:.0f})")
    print(f"{'drop':>4}{'':>8}" + "".join(f"{drops[m]:>11.2f}" for m in methods) + "   (mean points below FP32)")
    best_fixed = min(CLIP_MODES, key=drops.get)
    met = drops["LAPQ"] <= drops[best_fixed] + 1e-9
    print(f"LAPQ mean drop {drops['LAPQ']:.2f} vs best fixed clip mode ({best_fixed}) {drops[best_fixed]:.2f}: "
          f"{'met' if met else 'NOT met'} (target: LAPQ <= best fixed)")
    print(json.dumps({"benchmark": "digits_lapq", "seeds": args.seeds, "per_channel": args.per_channel,
                      "mean_drop": drops, "best_fixed": best_fixed, "target_met": met,
                      "per_seed": results}))


if __name__ == "__main__":
    main()
