import json

import pytest
import torch

from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run
from helpers import scheduler_for


def regularizer_schedule(body, args=""):
    return f"regularizers:\n  r:\n{body}\npolicies:\n  - regularizer: {{instance_name: r{args}}}\n    epochs: [0]\n"


def _backward(scheduler, loss):
    """One minibatch's before_backward_pass (epoch 0 begun by the test)."""
    scheduler.on_minibatch_begin(0, 0, 1)
    return scheduler.before_backward_pass(0, 0, 1, loss)


def test_l1_and_group_lasso_penalties_have_their_formulas():
    scheduler, context = scheduler_for(regularizer_schedule(
        "    class: L1Regularizer\n    reg_regims: {fc2.weight: 0.1}"))
    scheduler.on_epoch_begin(0)
    loss = _backward(scheduler, torch.tensor(1.0))
    assert loss.item() == pytest.approx(1.0 + 0.1 * context.model.fc2.weight.abs().sum().item(), rel=1e-5)
    scheduler, context = scheduler_for(regularizer_schedule(
        "    class: GroupLassoRegularizer\n    reg_regims: {conv2.weight: [0.01, Filters]}"))
    scheduler.on_epoch_begin(0)
    loss = _backward(scheduler, torch.tensor(0.0))
    expected = 0.01 * context.model.conv2.weight.flatten(1).norm(dim=1).sum().item()
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert scheduler.mean_policy_losses(1)["r_loss"] == pytest.approx(expected, rel=1e-5)


def test_group_variance_penalty():
    scheduler, context = scheduler_for(regularizer_schedule(
        "    class: GroupVarianceRegularizer\n    reg_regims: {fc1.weight: [1.0, Rows]}"))
    scheduler.on_epoch_begin(0)
    loss = _backward(scheduler, torch.tensor(0.0))
    assert loss.item() == pytest.approx(context.model.fc1.weight.norm(dim=1).var().item(), rel=1e-5)


def test_thresholded_groups_become_masks_with_keep_mask_at_the_last_step():
    scheduler, context = scheduler_for(regularizer_schedule(
        "    class: GroupLassoRegularizer\n    reg_regims: {fc1.weight: [0.02, Rows]}\n    threshold_criteria: Mean_Abs",
        args=", args: {keep_mask: true}"))
    weak_rows = context.model.fc1.weight.detach().abs().mean(dim=1) <= 0.02
    scheduler.on_epoch_begin(0)
    scheduler.on_minibatch_begin(0, 0, 2)
    scheduler.before_backward_pass(0, 0, 2, torch.tensor(0.0))
    scheduler.on_minibatch_end(0, 0, 2)
    assert torch.all(context.model.fc1.weight[weak_rows] == 0) and not scheduler.masks.masks
    scheduler.on_minibatch_begin(0, 1, 2)
    scheduler.before_backward_pass(0, 1, 2, torch.tensor(0.0))
    scheduler.on_minibatch_end(0, 1, 2)
    assert "fc1.weight" in scheduler.masks.masks


def test_regularizer_loss_is_logged_per_epoch(tmp_path):
    text = ("version: 1\ntraining: {epochs: 1}\ndataset: {batch_size: 256}\n"
            + regularizer_schedule("    class: L1Regularizer\n    reg_regims: {fc1.weight: 0.0001}"))
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / "r")))
    fit(prepare_run(schedule, write_tensorboard=False))
    record = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["r_loss"] > 0
