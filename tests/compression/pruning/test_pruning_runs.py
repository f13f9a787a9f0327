"""Pruning through the whole training loop: masks hold, are saved, and survive resume."""
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from helpers import train_schedule

AGP = """version: 1
dataset: {batch_size: 128}
training: {epochs: 4, lr: 0.05, seed: 2}
pruners:
  agp:
    class: AutomatedGradualPruner
    initial_sparsity: 0.3
    final_sparsity: 0.7
    weights: [conv3.weight, fc1.weight]
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 3
"""


def train(tmp_path, name, resume=None, **overrides):
    return train_schedule(tmp_path, name, AGP, resume, **overrides)


def zero_fraction(tensor):
    return (tensor == 0).float().mean().item()


def test_masks_hold_through_training_and_land_in_the_checkpoint(tmp_path):
    run, report = train(tmp_path, "a")
    assert abs(zero_fraction(run.model.conv3.weight) - 0.7) < 1e-3
    assert [round(r["sparsity"], 2) for r in run.history] == sorted(round(r["sparsity"], 2) for r in run.history)
    checkpoint = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    masks = checkpoint["masks"]["masks"]
    assert set(masks) == {"conv3.weight", "fc1.weight"}
    assert torch.equal(masks["fc1.weight"], run.model.fc1.weight.detach() != 0)
    assert report["nnz"] < report["dense_nnz"] and report["effective_macs"] < report["dense_macs"]


def test_resume_restores_masks_and_matches_an_uninterrupted_run(tmp_path):
    straight, _ = train(tmp_path, "straight")
    train(tmp_path, "stopped", epochs=2)
    resumed, _ = train(tmp_path, "stopped", resume=str(tmp_path / "stopped" / "checkpoint.pt"))
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
