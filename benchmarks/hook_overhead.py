"""Epoch time of a plain PyTorch loop with the scheduler's hooks (an empty schedule) vs without them.

Same model, data order and optimizer; the two loops alternate epoch by epoch and the medians
are compared. Target: <= 1.03x.

    python benchmarks/hook_overhead.py [--rounds 10]
    python benchmarks/hook_overhead.py --arch resnet20_cifar --dataset fake --size 1024 --rounds 3
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import compressor
from compressor.compression.models import build_model, model_info
from compressor.datasets import DatasetConfig, build_datasets, build_loaders


def epoch_seconds(model, optimizer, loaders, epoch, scheduler=None) -> float:
    loaders.begin_epoch(epoch)
    steps = len(loaders.train)
    started = time.perf_counter()
    if scheduler:
        scheduler.on_epoch_begin(epoch)
    for step, (images, targets) in enumerate(loaders.train):
        if scheduler:
            scheduler.on_minibatch_begin(epoch, step, steps)
        loss = F.cross_entropy(model(images), targets)
        if scheduler:
            loss = scheduler.before_backward_pass(epoch, step, steps, loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler:
            scheduler.on_minibatch_end(epoch, step, steps)
    if scheduler:
        scheduler.on_epoch_end(epoch, metrics={"val_loss": loss.item()})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="digits_cnn")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = model_info(args.arch)
    config = DatasetConfig(name=args.dataset, batch_size=64, size=args.size)
    loaders = build_loaders(build_datasets(config, info.input_shape, info.num_classes, 0), 64, 0, 0)
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.yaml"
        empty.write_text("version: 1\n")
        for name in ("plain loop", "with hooks"):
            torch.manual_seed(0)
            model = build_model(args.arch)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            scheduler = compressor.CompressionScheduler.from_yaml(empty, model, optimizer) if name == "with hooks" else None
            runs[name] = (model, optimizer, scheduler, [])
        epoch_seconds(*runs["plain loop"][:2], loaders, 0)  # warm-up
        for epoch in range(args.rounds):
            order = list(runs) if epoch % 2 == 0 else list(runs)[::-1]
            for name in order:
                model, optimizer, scheduler, times = runs[name]
                times.append(epoch_seconds(model, optimizer, loaders, epoch, scheduler))
    medians = {name: statistics.median(times) for name, (*_, times) in runs.items()}
    spread = {name: (min(times), max(times)) for name, (*_, times) in runs.items()}
    ratio = medians["with hooks"] / medians["plain loop"]
    print(f"{'loop':<14}{'median epoch s':>16}{'min':>9}{'max':>9}  ({args.arch}, {args.dataset}, {args.rounds} epochs each)")
    for name, median in medians.items():
        print(f"{name:<14}{median:>16.4f}{spread[name][0]:>9.4f}{spread[name][1]:>9.4f}")
    print(f"ratio {ratio:.3f} (target <= 1.03)")
    print(json.dumps({"benchmark": "hook_overhead", "arch": args.arch, "dataset": args.dataset, "ratio": ratio,
                      "plain_epoch_s": medians["plain loop"], "hooks_epoch_s": medians["with hooks"],
                      "rounds": args.rounds, "threads": args.threads}))


if __name__ == "__main__":
    main()
