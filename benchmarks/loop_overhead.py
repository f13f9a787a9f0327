"""Epoch time of `compressor train` (empty schedule) vs a minimal hand-written PyTorch loop.

Same model (digits_cnn), data, batch size and optimizer; runs interleaved, medians reported.
Both sides evaluate on the validation split every epoch; ours also logs metrics and
TensorBoard events and writes a checkpoint each epoch, as `compressor train` does.

    python benchmarks/loop_overhead.py [--rounds 5] [--epochs 4]
    python benchmarks/loop_overhead.py --arch resnet20_cifar --dataset fake --size 1024

Digits epochs last about 0.18 s, so the fixed work of each epoch (a checkpoint, TensorBoard)
weighs the most there; the second line measures a model whose epochs take seconds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch
from torch import nn

from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run
from compressor.compression.training.reporting import EpochTimer

SCHEDULE = """version: 1
model: {arch: ARCH}
dataset: {name: DATASET, batch_size: 64, size: SIZE}
training: {epochs: EPOCHS, optimizer: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, seed: 0}
"""


def schedule_text(args, epochs: int) -> str:
    return (SCHEDULE.replace("ARCH", args.arch).replace("DATASET", args.dataset)
            .replace("SIZE", str(args.size)).replace("EPOCHS", str(epochs)))


def compressor_epochs(text: str, epochs: int, out: str) -> list:
    schedule = parse_schedule_text(text)
    run = prepare_run(apply_overrides(schedule, TrainOptions(out=out)))
    clock = EpochTimer()
    fit(run, clock)
    return clock.times


def hand_written_epochs(text: str, epochs: int, out: str) -> list:
    # Same data and model as above, built through the library only to share the exact tensors.
    schedule = parse_schedule_text(text)
    run = prepare_run(apply_overrides(schedule, TrainOptions(out=out)), write_tensorboard=False)
    model, train_loader, val_loader = run.model, run.loaders.train, run.loaders.val
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=0.0001)
    criterion = nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for images, targets in train_loader:
            loss = criterion(model(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, targets in val_loader:
                correct += (model(images).argmax(1) == targets).sum().item()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--arch", default="digits_cnn")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--size", type=int, default=256, help="images of the fake dataset")
    args = parser.parse_args()
    text = schedule_text(args, args.epochs)
    torch.set_num_threads(2)
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            # the first epoch of each run warms caches up; compare the rest
            theirs += hand_written_epochs(text, args.epochs, f"{tmp}/h{round_index}")[1:]
            ours += compressor_epochs(text, args.epochs, f"{tmp}/c{round_index}")[1:]
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"{'loop':<22}{'median epoch s':>16}{'epochs':>8}")
    print(f"{'hand-written PyTorch':<22}{statistics.median(theirs):>16.4f}{len(theirs):>8}")
    print(f"{'compressor train':<22}{statistics.median(ours):>16.4f}{len(ours):>8}")
    print(f"ratio {ratio:.3f} (target <= 1.05)")
    print(json.dumps({"benchmark": "loop_overhead", "arch": args.arch, "dataset": args.dataset, "hand_epoch_s": statistics.median(theirs),
                      "compressor_epoch_s": statistics.median(ours), "ratio": ratio,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
