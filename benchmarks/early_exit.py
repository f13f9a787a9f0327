"""Measured speed-up of early-exit inference over the full model, resnet20_cifar_earlyexit, fake data.

The model is trained briefly with Distiller's early-exit loss (exit weight 0.4) on fake CIFAR-shaped
images (`--train-epochs 0` keeps the seeded initial weights). For each target share of images
leaving at the exit, the exit's threshold is the matching quantile of the exit's softmax entropy on
the timed images; then the full model and the early-exit path (which stops computing for the
images that left) run over the same batches, back to back, alternating, for `--rounds` rounds.
Medians, 10th-90th percentiles, and the speed-up a MAC count allows at that share.

    python benchmarks/early_exit.py [--shares 0.25 0.5 0.75] [--images 512] [--batch-size 64] [--rounds 20]
"""
from __future__ import annotations

import argparse
import json
import tempfile

import torch

from compressor.compression.early_exit import time_early_exit
from compressor.compression.models import build_model, model_info
from compressor.compression.models.exits import all_exit_outputs, exit_stages, softmax_entropy
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.summary import count_macs
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run
from compressor.datasets import DatasetConfig, build_datasets

ARCH = "resnet20_cifar_earlyexit"
SCHEDULE = f"""version: 1
model: {{arch: {ARCH}}}
dataset: {{name: fake, size: SIZE, batch_size: 64}}
training: {{epochs: EPOCHS, lr: 0.05, seed: 0}}
early_exit: {{loss_weights: [0.4]}}
"""


def trained_model(epochs: int, size: int) -> torch.nn.Module:
    if epochs == 0:
        torch.manual_seed(0)
        return build_model(ARCH)
    text = SCHEDULE.replace("SIZE", str(size)).replace("EPOCHS", str(epochs))
    with tempfile.TemporaryDirectory() as tmp:
        run = prepare_run(apply_overrides(parse_schedule_text(text), TrainOptions(out=f"{tmp}/run")),
                          write_tensorboard=False)
        fit(run)
        return run.model


def timing_batches(images: int, batch_size: int) -> list:
    """`images` fake test images (the test split is a quarter of `size`), in batches."""
    info = model_info(ARCH)
    splits = build_datasets(DatasetConfig(name="fake", size=4 * images), info.input_shape, info.num_classes, 0)
    stacked = torch.stack([splits.test[index][0] for index in range(images)])
    return list(stacked.split(batch_size))


def mac_bound(model: torch.nn.Module, share: float) -> float:
    """Full-model MACs over the early-exit path's MACs when `share` of the images leave at the exit."""
    stages, heads = exit_stages(model)
    shape = model_info(ARCH).input_shape
    total = sum(count_macs(model, shape).values())
    first = sum(count_macs(stages[0], shape).values())
    with torch.no_grad():
        tapped = stages[0].eval()(torch.zeros(1, *shape)).shape[1:]
    head = sum(count_macs(heads[0], tapped).values())
    return total / (first + head + (1 - share) * (total - first))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shares", type=float, nargs="+", default=[0.5], help="target shares leaving early")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = trained_model(args.train_epochs, args.train_size).eval()
    batches = timing_batches(args.images, args.batch_size)
    with torch.no_grad():
        entropy = torch.cat([softmax_entropy(all_exit_outputs(model, batch)[0]) for batch in batches])
    rows = []
    for share in args.shares:
        threshold = torch.quantile(entropy, share).item()
        timing = time_early_exit(model, batches, [threshold], rounds=args.rounds, warmup=args.warmup)
        full, early = timing["full"], timing["early_exit"]
        rows.append({"target_share": share, "threshold": threshold, "share": timing["timed_exit_shares"][0],
                     "full_ms": full["median_ms"], "full_p10_ms": full["p10_ms"], "full_p90_ms": full["p90_ms"],
                     "early_ms": early["median_ms"], "early_p10_ms": early["p10_ms"], "early_p90_ms": early["p90_ms"],
                     "speedup": timing["speedup"], "speedup_low": timing["speedup_low"],
                     "speedup_high": timing["speedup_high"],
                     "mac_bound": mac_bound(model, timing["timed_exit_shares"][0]),
                     "warnings": timing["measurement_warnings"]})
    print(f"{ARCH}, {args.images} fake images in batches of {args.batch_size}, {args.rounds} interleaved rounds, "
          f"{args.threads} threads; ms per round (all batches), median [p10-p90]")
    columns = ["share", "threshold", "full ms", "early exit ms", "speed-up [p10-p90]", "MAC bound"]
    lines = [[f"{row['share']:.1%}", f"{row['threshold']:.4f}",
              f"{row['full_ms']:.1f} [{row['full_p10_ms']:.1f}-{row['full_p90_ms']:.1f}]",
              f"{row['early_ms']:.1f} [{row['early_p10_ms']:.1f}-{row['early_p90_ms']:.1f}]",
              f"{row['speedup']:.2f}x [{row['speedup_low']:.2f}-{row['speedup_high']:.2f}]",
              f"{row['mac_bound']:.2f}x"] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(columns, *lines)]
    for cells in [columns, *lines]:
        print("  ".join(cell.rjust(width) for cell, width in zip(cells, widths)))
    for row in rows:
        for warning in row["warnings"]:
            print(f"warning ({row['share']:.1%} leaving): {warning}")
    print(json.dumps({"benchmark": "early_exit", "arch": ARCH, "images": args.images, "batch_size": args.batch_size,
                      "rounds": args.rounds, "threads": args.threads, "train_epochs": args.train_epochs,
                      "results": rows}))


if __name__ == "__main__":
    main()
