"""Epoch time of training with active pruning masks vs dense training, same model and data.

Runs schedules/digits_agp.yaml (AGP to 90% in three layers, masks re-applied after every
step) and schedules/digits_baseline.yaml for the same number of epochs, alternating runs,
and compares median epoch times (all epochs, pruning and fine-tuning ones alike).

    python benchmarks/mask_overhead.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile

import torch

from compressor.compression.schedule import load_schedule
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run
from compressor.compression.training.reporting import EpochTimer

EPOCHS = 30


def epoch_times(schedule_path: str, out: str) -> list:
    schedule = apply_overrides(load_schedule(schedule_path), TrainOptions(out=out, epochs=EPOCHS))
    clock = EpochTimer()
    fit(prepare_run(schedule), clock)
    return clock.times[1:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    dense, masked = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.rounds):
            dense += epoch_times("schedules/digits_baseline.yaml", f"{tmp}/d{index}")
            masked += epoch_times("schedules/digits_agp.yaml", f"{tmp}/m{index}")
    ratio = statistics.median(masked) / statistics.median(dense)
    print(f"{'training':<22}{'median epoch s':>16}")
    print(f"{'dense':<22}{statistics.median(dense):>16.4f}")
    print(f"{'AGP masks active':<22}{statistics.median(masked):>16.4f}")
    print(f"ratio {ratio:.3f} (target <= 1.10)")
    print(json.dumps({"benchmark": "mask_overhead", "dense_epoch_s": statistics.median(dense),
                      "masked_epoch_s": statistics.median(masked), "ratio": ratio}))


if __name__ == "__main__":
    main()
