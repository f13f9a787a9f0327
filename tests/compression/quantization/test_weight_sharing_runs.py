"""Weight sharing in whole runs: after AGP pruning, through checkpoints and resume."""
import shutil

import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.restore import model_from_checkpoint
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import Reporter, TrainOptions, apply_overrides, fit, prepare_run
from helpers import assert_state_dicts_equal, train_schedule

RUN = """
version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 32}
training: {epochs: 3, optimizer: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, seed: 1}
pruners:
  agp:
    class: AutomatedGradualPruner
    initial_sparsity: 0.5
    final_sparsity: 0.9
    weights: [conv2.weight, conv3.weight, fc1.weight]
quantizers:
  share:
    class: KMeansWeightSharingQuantizer
    clusters: 16
    overrides:
      conv1: {clusters: 64}
      fc.*: {clusters: 32}
lr_schedulers:
  step: {class: StepLR, step_size: 1, gamma: 0.2}
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 2
  - quantizer: {instance_name: share}
    starting_epoch: 1
    ending_epoch: 3
  - lr_scheduler: {instance_name: step}
    starting_epoch: 0
    ending_epoch: 3
"""
CLUSTERS = {"conv1": 64, "conv2": 16, "conv3": 16, "fc1": 32, "fc2": 32}


class CopyAfterEpoch(Reporter):
    """Copies the run folder as it is after one epoch: a run stopped there, to resume."""

    def __init__(self, source, target, epoch):
        self.source, self.target, self.epoch = source, target, epoch

    def on_epoch_end(self, record):
        if record["epoch"] == self.epoch:
            shutil.copytree(self.source, self.target)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The whole run, and a copy of its folder after epoch 1 (the sharing's first)."""
    folder = tmp_path_factory.mktemp("sharing")
    schedule = apply_overrides(parse_schedule_text(RUN), TrainOptions(out=str(folder / "straight")))
    run = prepare_run(schedule, write_tensorboard=False)
    report = fit(run, CopyAfterEpoch(folder / "straight", folder / "stopped", epoch=1))
    return folder, run, report


def distinct_nonzero(model):
    return {name: len(torch.unique(module.weight[module.weight != 0])) for name, module in model.named_children()
            if name in CLUSTERS}


def test_pruned_and_shared_model_keeps_k_values_its_zeros_and_its_accuracy(straight):
    _, run, report = straight
    assert distinct_nonzero(run.model) == CLUSTERS  # every cluster keeps members
    for name in ("conv2", "conv3", "fc1"):
        weight = getattr(run.model, name).weight
        assert torch.equal(weight != 0, run.scheduler.masks.get(f"{name}.weight"))
        assert (weight == 0).float().mean().item() == pytest.approx(0.9, abs=0.001)
    assert report["top1"] > 90


def test_a_checkpoint_of_the_shared_model_is_rebuilt_without_the_quantizer(straight):
    folder, run, _ = straight
    for file in ("checkpoint.pt", "best.pt"):
        payload = load_checkpoint(folder / "straight" / file)
        model, _ = model_from_checkpoint(payload)
        assert set(payload["model_state"]) == set(model.state_dict())
        assert all(count <= CLUSTERS[name] for name, count in distinct_nonzero(model).items())
    assert_state_dicts_equal(model.state_dict(), run.model.state_dict())  # the last epoch is the best


def test_resume_continues_bit_for_bit(straight):
    folder, run, _ = straight
    stopped = load_checkpoint(folder / "stopped" / "checkpoint.pt")
    assert stopped["epoch"] == 1 and stopped["policies_state"]["1:share"]["clustered"]
    resumed, _ = train_schedule(folder, "stopped", RUN, resume=str(folder / "stopped" / "checkpoint.pt"))
    assert resumed.start_epoch == 2
    assert_state_dicts_equal(run.model.state_dict(), resumed.model.state_dict())
    assert_state_dicts_equal(run.optimizer.state_dict()["state"][0], resumed.optimizer.state_dict()["state"][0])
    assert [r["top1"] for r in run.history] == [r["top1"] for r in resumed.history]
    for name, layer in run.scheduler.scheduled[1].policy.quantizer.layers.items():
        again = resumed.scheduler.scheduled[1].policy.quantizer.layers[name]
        assert torch.equal(layer.index, again.index) and torch.equal(layer.centroids, again.centroids)
