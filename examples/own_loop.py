"""Your own PyTorch training loop, compressed by a schedule through the scheduler's hooks.

    python examples/own_loop.py schedules/digits_agp.yaml --out own_loop.pt
    compressor evaluate --checkpoint own_loop.pt

Runs the schedule's pruners and lr schedulers (here AGP to 90% on three layers, and cosine
annealing) from a plain loop. With the same seed it ends with the same weights as
`compressor train --schedule schedules/digits_agp.yaml`: the same hooks in the same order.
"""
import argparse

import torch
import torch.nn.functional as F

import compressor
from compressor.compression.models import build_model
from compressor.datasets import DatasetConfig, build_datasets, build_loaders


def evaluate(model, loader):
    model.eval()
    with torch.no_grad():
        losses, correct, seen = 0.0, 0, 0
        for images, targets in loader:
            outputs = model(images)
            losses += F.cross_entropy(outputs, targets, reduction="sum").item()
            correct += (outputs.argmax(1) == targets).sum().item()
            seen += len(targets)
    model.train()
    return {"val_loss": losses / seen, "top1": 100.0 * correct / seen}


def main(schedule, epochs=30, seed=0, out=None):
    torch.manual_seed(seed)
    model = build_model("digits_cnn")
    loaders = build_loaders(build_datasets(DatasetConfig(name="digits"), (1, 8, 8), 10, seed), 64, 0, seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    # input_shape: thinning, BatchNorm folding and activation statistics trace the model with one input
    scheduler = compressor.CompressionScheduler.from_yaml(schedule, model, optimizer, input_shape=(1, 8, 8))
    steps = len(loaders.train)
    for epoch in range(epochs):
        loaders.begin_epoch(epoch)  # the batch order of (seed, epoch), as `compressor train` uses
        scheduler.on_epoch_begin(epoch)
        model.train()
        for step, (images, targets) in enumerate(loaders.train):
            scheduler.on_minibatch_begin(epoch, step, steps)
            loss = F.cross_entropy(model(images), targets)
            loss = scheduler.before_backward_pass(epoch, step, steps, loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.on_minibatch_end(epoch, step, steps)
        with scheduler.forward_masked():  # the pruned model, also where masks are forward-only
            metrics = evaluate(model, loaders.val)
        scheduler.on_epoch_end(epoch, metrics=metrics)
        print(f"epoch {epoch}: top-1 {metrics['top1']:.2f}%")
    if out:  # a checkpoint every command takes: compressor evaluate / quantize / export --checkpoint OUT
        compressor.save_checkpoint(model, out, arch="digits_cnn", scheduler=scheduler)
    return model


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("schedule")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    main(args.schedule, args.epochs, args.seed, args.out)
