"""Write the checkpoint corpus of this release: small checkpoints of every kind, and the outputs
their rebuilt models give on fixed inputs.

    python tests/corpus/make_corpus.py tests/corpus/v<FORMAT_VERSION>

Every later release's test suite loads these files and compares its outputs with the recorded
ones exactly (tests/compression/core/test_checkpoint_corpus.py). A release that changes the
checkpoint format adds a folder of its own, written by this script; the folders already there
are never rewritten.

Only long-standing entry points are used (schedule text, training options, `fit`, `load_model`),
so the same script also runs against earlier releases.
"""
from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path
from typing import Dict

import torch

from compressor.compression.model_source import load_model
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import Reporter, TrainOptions, apply_overrides, fit, prepare_run
from compressor.compression.training.stopping import StopRequest

DIGITS = """
version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 128}
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, seed: 0}
"""
SMALL = DIGITS.replace("digits_cnn", "digits_cnn_small")  # small files: 6k parameters
AGP = SMALL + """
pruners:
  agp:
    class: AutomatedGradualPruner
    initial_sparsity: 0.3
    final_sparsity: 0.7
    weights: [conv1.weight, module.conv2.weight, fc1.weight]
policies:
  - pruner: {instance_name: agp, args: {keep_mask: true}}
    starting_epoch: 0
    ending_epoch: 2
    frequency: 1
"""
LSQ4 = SMALL + """
quantizers:
  qat4:
    class: LSQQuantizer
    bits_activations: 4
    bits_weights: 4
    per_channel_wts: true
    overrides:
      conv1: {bits_weights: 8}
policies:
  - quantizer: {instance_name: qat4}
    starting_epoch: 0
    ending_epoch: 2
"""
RESNET20_THIN = """
version: 1
model: {arch: resnet20_cifar}
dataset: {name: fake, batch_size: 32, size: 64}
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.0, seed: 0}
pruners:
  filters:
    class: L1RankedStructureParameterPruner
    desired_sparsity: 0.5
    group_type: Filters
    weights: [module.layer1.0.conv1.weight, layer2.1.conv1.weight, layer3.2.conv1.weight]
extensions:
  net_thinner: {class: FilterRemover, thinning_func_str: remove_filters}
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - extension: {instance_name: net_thinner}
    epochs: [1]
"""
STUDENT = """
version: 1
model: {arch: digits_cnn_small}
dataset: {name: digits, batch_size: 128}
training: {epochs: 1, optimizer: sgd, lr: 0.05, momentum: 0.9, seed: 0}
"""


class _StopAt(Reporter):
    """Asks the run to stop (as SIGTERM does) when the given step of the given epoch ends."""

    def __init__(self, stop: StopRequest, epoch: int, step: int):
        self.stop, self.epoch, self.step = stop, epoch, step

    def on_step_end(self, epoch, step, steps_per_epoch):
        if (epoch, step) == (self.epoch, self.step):
            self.stop.request(signal.SIGTERM)


def _train(text: str, out: Path, **options) -> Path:
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(out), **options))
    fit(prepare_run(schedule, write_tensorboard=False))
    return out / "checkpoint.pt"


def _interrupted(text: str, out: Path) -> Path:
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(out)))
    stop = StopRequest()
    try:
        fit(prepare_run(schedule, write_tensorboard=False), _StopAt(stop, epoch=1, step=3), stop)
    except Exception as err:  # TrainingInterrupted: the checkpoint is written
        if type(err).__name__ != "TrainingInterrupted":
            raise
    return out / "checkpoint.pt"


def write_corpus(folder: Path) -> Dict[str, Dict[str, torch.Tensor]]:
    folder.mkdir(parents=True, exist_ok=False)
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(scratch)
        dense = _train(DIGITS, runs / "dense")
        made = {
            "dense_digits": dense,
            "agp_digits": _train(AGP, runs / "agp"),
            "lsq4_digits": _train(LSQ4, runs / "lsq4"),
            "thinned_resnet20_cifar": _train(RESNET20_THIN, runs / "thin"),
            "student_digits": _train(STUDENT, runs / "student", kd_teacher=str(dense), kd_temp=2.0),
            "sigterm_digits": _interrupted(AGP, runs / "sigterm"),
        }
        outputs = {}
        for name, path in made.items():
            (folder / f"{name}.pt").write_bytes(path.read_bytes())
            outputs[name] = recorded_outputs(folder / f"{name}.pt")
    torch.save(outputs, folder / "outputs.pt")
    return outputs


def recorded_outputs(path: Path) -> Dict[str, torch.Tensor]:
    """The rebuilt model's logits on four seeded random inputs, in eval mode."""
    loaded = load_model(str(path))
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(4, *loaded.info.input_shape, generator=generator)
    with torch.no_grad():
        logits = loaded.model.eval()(inputs)
    return {"inputs": inputs, "logits": logits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a new folder, e.g. tests/corpus/v2")
    args = parser.parse_args()
    torch.set_num_threads(2)  # as the test suite runs
    for name in write_corpus(args.folder):
        print(f"wrote {args.folder / name}.pt")


if __name__ == "__main__":
    main()
