import json

import pytest
import torch
import torch.nn.functional as F

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.distillation import DistillationLoss, DistillationSection
from compressor.compression.models import build_model
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run


def test_loss_is_weighted_ce_plus_t_squared_kl():
    torch.manual_seed(0)
    teacher = torch.nn.Linear(4, 3)
    section = DistillationSection(teacher={"arch": "digits_cnn"}, temperature=2.0, distill_weight=0.7,
                                  student_weight=0.3)
    loss_fn = DistillationLoss(section, teacher)
    images, outputs, targets = torch.randn(5, 4), torch.randn(5, 3), torch.randint(0, 3, (5,))
    soft_teacher = F.softmax(teacher(images) / 2, dim=1)
    kl = (soft_teacher * (soft_teacher.log() - F.log_softmax(outputs / 2, dim=1))).sum(dim=1).mean()
    expected = 0.3 * F.cross_entropy(outputs, targets) + 0.7 * 4 * kl
    assert loss_fn(images, outputs, targets, epoch=0).item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(loss_fn.epoch_components(1)) == {"student_loss", "distill_loss"}


def test_before_start_epoch_the_loss_is_plain_ce():
    section = DistillationSection(teacher={"arch": "digits_cnn"}, start_epoch=3)
    loss_fn = DistillationLoss(section, torch.nn.Linear(4, 3))
    outputs, targets = torch.randn(5, 3), torch.randint(0, 3, (5,))
    assert torch.equal(loss_fn(torch.randn(5, 4), outputs, targets, 2), F.cross_entropy(outputs, targets))


def test_from_end_epoch_the_loss_is_plain_ce_and_the_teacher_is_not_run():
    section = DistillationSection(teacher={"arch": "digits_cnn"}, start_epoch=1, end_epoch=3)
    calls = []
    teacher = torch.nn.Linear(4, 3)
    teacher.register_forward_hook(lambda *args: calls.append(1))
    loss_fn = DistillationLoss(section, teacher)
    outputs, targets = torch.randn(5, 3), torch.randint(0, 3, (5,))
    plain = F.cross_entropy(outputs, targets)
    assert not torch.equal(loss_fn(torch.randn(5, 4), outputs, targets, 2), plain) and len(calls) == 1
    assert torch.equal(loss_fn(torch.randn(5, 4), outputs, targets, 3), plain) and len(calls) == 1
    with pytest.raises(ValueError, match="end_epoch \\(1\\) must be after start_epoch \\(1\\)"):
        DistillationSection(teacher={"arch": "digits_cnn"}, start_epoch=1, end_epoch=1)


def teacher(tmp_path, arch="digits_cnn"):
    path = tmp_path / "teacher.pt"
    save_checkpoint({"arch": arch, "num_classes": 10, "model_state": build_model(arch).state_dict()}, path)
    return str(path)


AGP = """version: 1
model: {arch: digits_cnn_small}
dataset: {batch_size: 256}
training: {epochs: 2}
pruners:
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.2, final_sparsity: 0.5, weights: [conv3.weight]}
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 2
"""


def test_distillation_with_pruning_logs_components_and_keeps_the_teacher_frozen(tmp_path):
    options = TrainOptions(out=str(tmp_path / "run"), kd_teacher=teacher(tmp_path), kd_temp=4.0)
    run = prepare_run(apply_overrides(parse_schedule_text(AGP), options), write_tensorboard=False)
    before = [p.clone() for p in run.train_loss.teacher.parameters()]
    fit(run)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["distill_loss"] > 0 and records[-1]["student_loss"] > 0
    assert not run.train_loss.teacher.training
    assert all(torch.equal(a, b) for a, b in zip(before, run.train_loss.teacher.parameters()))
    assert (run.model.conv3.weight == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)
