import json
import signal

import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.core.errors import TrainingInterrupted, UserError
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import Reporter, TrainOptions, apply_overrides, fit, prepare_run
from compressor.compression.training.stopping import StopRequest
from helpers import StopAt, assert_state_dicts_equal

DIGITS = """
version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 128}
"""
SCHEDULE = DIGITS + """
training: {epochs: 3, optimizer: sgd, lr: 0.05, momentum: 0.9, seed: 3}
pruners:
  agp:
    class: AutomatedGradualPruner
    initial_sparsity: 0.1
    final_sparsity: 0.6
    weights: [conv1.weight, conv2.weight, fc1.weight]
lr_schedulers:
  step: {class: StepLR, step_size: 1, gamma: 0.5}
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 3
    frequency: 1
  - lr_scheduler: {instance_name: step}
    starting_epoch: 1
    ending_epoch: 3
"""


APOZ_SCHEDULE = DIGITS + """
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, seed: 5}
pruners:
  apoz: {class: ActivationAPoZRankedFilterPruner, group_type: Filters, desired_sparsity: 0.5, weights: [conv2.weight]}
policies:
  - pruner: {instance_name: apoz}
    epochs: [1]
"""


def prepare(tmp_path, name, resume=None, text=SCHEDULE):
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / name)))
    return prepare_run(schedule, resume=resume, write_tensorboard=False)


def test_a_stop_mid_epoch_writes_a_checkpoint_that_resumes_bit_for_bit(tmp_path):
    straight = prepare(tmp_path, "straight")
    fit(straight)

    stopped = prepare(tmp_path, "stopped")
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted) as info:
        fit(stopped, StopAt(stop, epoch=1, step=3), stop)
    assert info.value.exit_code == 128 + signal.SIGTERM
    # the request came after step 3's check: step 4, in progress then, finishes
    assert "SIGTERM received: stopped in epoch 1 after 5 of 9 steps" in str(info.value)
    checkpoint = tmp_path / "stopped" / "checkpoint.pt"
    stopped_payload = load_checkpoint(checkpoint)
    assert stopped_payload["epoch_progress"]["step"] == 5 and stopped_payload["epoch_progress"]["processes"] == 1

    resumed = prepare(tmp_path, "stopped", resume=str(checkpoint))
    assert (resumed.start_epoch, resumed.resumed_progress.step) == (1, 5)
    fit(resumed)
    assert_state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())
    assert [r["top1"] for r in resumed.history] == [r["top1"] for r in straight.history]
    assert [r["train_loss"] for r in resumed.history] == pytest.approx([r["train_loss"] for r in straight.history])

    stopped_payload["epoch_progress"]["processes"] = 2  # as if two processes under torchrun had run its steps
    torch.save(stopped_payload, tmp_path / "stopped" / "two.pt")
    with pytest.raises(UserError, match="part-way through an epoch run by 2 processes; resume it with as many"):
        prepare(tmp_path, "stopped", resume=str(tmp_path / "stopped" / "two.pt"))


REGULARIZED = DIGITS + """
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, seed: 4}
regularizers:
  l1: {class: L1Regularizer, reg_regims: {fc1.weight: 0.001}}
policies:
  - regularizer: {instance_name: l1}
    starting_epoch: 0
    ending_epoch: 2
"""


def test_a_resumed_epoch_records_its_loss_components_and_seconds_over_the_whole_epoch(tmp_path):
    straight = prepare(tmp_path, "straight", text=REGULARIZED)
    fit(straight)
    stopped = prepare(tmp_path, "stopped", text=REGULARIZED)
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted):
        fit(stopped, StopAt(stop, epoch=1, step=3), stop)
    before = load_checkpoint(tmp_path / "stopped" / "checkpoint.pt")["epoch_progress"]["seconds"]
    resumed = prepare(tmp_path, "stopped", resume=str(tmp_path / "stopped" / "checkpoint.pt"), text=REGULARIZED)
    fit(resumed)
    assert [r["l1_loss"] for r in resumed.history] == pytest.approx([r["l1_loss"] for r in straight.history])
    assert before > 0 and resumed.history[1]["epoch_seconds"] > before


def test_activation_statistics_of_an_interrupted_epoch_carry_over_to_its_resumed_part(tmp_path):
    straight = prepare(tmp_path, "straight", text=APOZ_SCHEDULE)
    fit(straight)
    stopped = prepare(tmp_path, "stopped", text=APOZ_SCHEDULE)
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted):
        fit(stopped, StopAt(stop, epoch=1, step=4), stop)  # APoZ gathers during epoch 1, ranks at its end
    checkpoint = tmp_path / "stopped" / "checkpoint.pt"
    assert load_checkpoint(checkpoint)["policies_state"]["0:apoz"]["counts"] == {"conv2.weight": 6.0}
    resumed = prepare(tmp_path, "stopped", resume=str(checkpoint), text=APOZ_SCHEDULE)
    fit(resumed)
    straight_mask = straight.scheduler.masks.masks["conv2.weight"]
    assert torch.equal(resumed.scheduler.masks.masks["conv2.weight"], straight_mask)
    assert not straight_mask.all()


def test_a_stop_during_the_last_step_of_an_epoch_resumes_at_the_next(tmp_path):
    run = prepare(tmp_path, "a")
    steps = len(run.loaders.train)
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted):
        fit(run, StopAt(stop, epoch=0, step=steps - 1), stop)
    resumed = prepare(tmp_path, "a", resume=str(tmp_path / "a" / "checkpoint.pt"))
    _, report = resumed, fit(resumed)
    assert [r["epoch"] for r in resumed.history] == [0, 1, 2]
    assert report["epochs"] == 3


def test_a_stop_between_epochs_keeps_the_epoch_checkpoint(tmp_path):
    class StopAfterEpoch(Reporter):
        def on_epoch_end(self, record):
            stop.request(signal.SIGINT)

    stop = StopRequest()
    run = prepare(tmp_path, "b")
    with pytest.raises(TrainingInterrupted) as info:
        fit(run, StopAfterEpoch(), stop)
    assert info.value.exit_code == 130
    payload = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert payload["epoch"] == 0 and "epoch_progress" not in payload


def test_resume_drops_a_metrics_line_torn_by_a_crash(tmp_path):
    run = prepare(tmp_path, "c")
    stop = StopRequest()

    class StopAfterEpoch(Reporter):
        def on_epoch_end(self, record):
            stop.request(signal.SIGTERM)

    with pytest.raises(TrainingInterrupted):
        fit(run, StopAfterEpoch(), stop)
    metrics = tmp_path / "c" / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"epoch": 1, "train_lo')
    resumed = prepare(tmp_path, "c", resume=str(tmp_path / "c" / "checkpoint.pt"))
    fit(resumed)
    lines = metrics.read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2]
