"""`compressor train` with pruning then k-means weight sharing: the best checkpoint holds k values per layer."""
import json
from pathlib import Path

import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.restore import model_from_checkpoint

SHIPPED = Path(__file__).resolve().parents[2] / "schedules" / "digits_deep_compression.yaml"

SCHEDULE = """version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 32}
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, seed: 0}
pruners:
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.5, final_sparsity: 0.8,
        weights: [conv2.weight, conv3.weight, fc1.weight]}
quantizers:
  sharing: {class: KMeansWeightSharingQuantizer, clusters: 16, centroid_gradient: mean, overrides: {conv1: null, fc2: {clusters: 4}}}
lr_schedulers:
  step: {class: StepLR, step_size: 1, gamma: 0.2}
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 2
  - quantizer: {instance_name: sharing}
    starting_epoch: 1
    ending_epoch: 2
  - lr_scheduler: {instance_name: step}
    starting_epoch: 0
    ending_epoch: 2
"""


def test_the_shipped_deep_compression_schedule_is_valid(cli):
    result = cli("validate", "--schedule", SHIPPED)
    assert result.code == 0, result.err
    assert "3 pruners, 1 quantizer" in result.out + result.err


def test_train_prunes_then_shares_and_the_best_checkpoint_keeps_k_values(cli, tmp_path):
    """AGP's last step (50% -> 80%) and the sharing start together in epoch 1, the sparsest epoch: the
    best checkpoint is the shared model by its density alone, whatever the accuracy of either epoch."""
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE)
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--json", "--threads", "1")
    assert result.code == 0, result.err
    report = result.json()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[1]["nnz"] < records[0]["nnz"]  # epoch 1 is the sparsest
    assert report["best_epoch"] == 1 and report["top1"] > 80
    model, _ = model_from_checkpoint(load_checkpoint(tmp_path / "run" / "best.pt"))
    distinct = {name: len(torch.unique(module.weight[module.weight != 0])) for name, module in model.named_children()
                if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear))}
    assert distinct["conv1"] == 288  # left FP32 by its override
    assert {name: distinct[name] for name in ("conv2", "conv3", "fc1", "fc2")} == {
        "conv2": 16, "conv3": 16, "fc1": 16, "fc2": 4}
    assert (model.conv3.weight == 0).float().mean().item() == pytest.approx(0.8, abs=1e-4)
