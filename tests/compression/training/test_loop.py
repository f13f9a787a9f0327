import json

import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint, save_checkpoint
from compressor.compression.evaluation import evaluate
from compressor.compression.models import build_model
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run
from helpers import assert_state_dicts_equal, train_schedule

SCHEDULE = """
version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 128}
training: {epochs: 4, optimizer: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, seed: 3}
lr_schedulers:
  step: {class: StepLR, step_size: 1, gamma: 0.5}
policies:
  - lr_scheduler: {instance_name: step}
    starting_epoch: 1
    ending_epoch: 4
"""


def run_schedule(tmp_path, name, text=SCHEDULE, resume=None, **overrides):
    return train_schedule(tmp_path, name, text, resume, **overrides)


def test_run_folder_holds_checkpoints_metrics_schedule_and_report(tmp_path):
    run, report = run_schedule(tmp_path, "a", epochs=2)
    folder = tmp_path / "a"
    assert {"checkpoint.pt", "best.pt", "metrics.jsonl", "schedule.yaml", "report.json"} <= {p.name for p in folder.iterdir()}
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]
    assert {"epoch", "train_loss", "val_loss", "top1", "top5", "lr", "sparsity"} <= set(records[0])
    assert (folder / "schedule.yaml").read_text() == SCHEDULE
    checkpoint = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert checkpoint["arch"] == "digits_cnn" and checkpoint["epoch"] == 1 and checkpoint["dataset"] == "digits"
    assert checkpoint["schedule_text"] == SCHEDULE and len(checkpoint["metrics"]) == 2
    best = load_checkpoint(folder / "best.pt")
    assert best["epoch"] == report["best_epoch"]
    assert json.loads((folder / "report.json").read_text())["top1"] == report["top1"]
    assert 0 <= report["top1"] <= 100 and report["top5"] >= report["top1"]


def test_lr_policy_steps_only_in_its_epochs(tmp_path):
    run, _ = run_schedule(tmp_path, "lr")
    # policy due at epochs 1..3: stepping at the end of epochs 1 and 2 halves the lr used next
    assert [round(r["lr"], 6) for r in run.history] == [0.05, 0.05, 0.025, 0.0125]


def test_resume_continues_bit_for_bit(tmp_path):
    straight, _ = run_schedule(tmp_path, "straight")
    run_schedule(tmp_path, "stopped", epochs=2)
    resumed, _ = run_schedule(tmp_path, "stopped", resume=str(tmp_path / "stopped" / "checkpoint.pt"))
    assert resumed.start_epoch == 2
    assert_state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())
    assert [r["top1"] for r in straight.history] == [r["top1"] for r in resumed.history]
    lines = (tmp_path / "stopped" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2, 3]


def test_same_seed_same_result_other_seed_differs(tmp_path):
    a, _ = run_schedule(tmp_path, "a", epochs=1)
    b, _ = run_schedule(tmp_path, "b", epochs=1)
    c, _ = run_schedule(tmp_path, "c", epochs=1, seed=4)
    assert torch.equal(a.model.fc2.weight, b.model.fc2.weight)
    assert not torch.equal(a.model.fc2.weight, c.model.fc2.weight)


def test_resume_of_another_model_is_refused(tmp_path):
    from compressor.compression.core.errors import UserError

    run_schedule(tmp_path, "a", epochs=1)
    other = SCHEDULE.replace("digits_cnn", "simplenet_mnist").replace("name: digits", "name: fake")
    with pytest.raises(UserError, match="checkpoint holds 'digits_cnn'"):
        run_schedule(tmp_path, "a", text=other, resume=str(tmp_path / "a" / "checkpoint.pt"))


def test_tensorboard_events_are_written(tmp_path):
    schedule = apply_overrides(parse_schedule_text(SCHEDULE), TrainOptions(out=str(tmp_path / "tb"), epochs=1))
    fit(prepare_run(schedule))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/train", "loss/val", "accuracy/top1", "accuracy/top5", "lr", "sparsity"} <= tags
    assert "sparsity/conv1.weight" in tags and "sparsity/fc2.weight" in tags
    assert "weights/conv1.weight" in events.Tags()["histograms"]


def test_model_default_dataset_is_used(tmp_path):
    text = "version: 1\nmodel: {arch: simplenet_mnist}\ndataset: {size: 8}\ntraining: {epochs: 1}\n"
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / "m"), dataset="fake"))
    run = prepare_run(schedule, write_tensorboard=False)
    assert run.schedule.dataset.name == "fake"
    images, _ = next(iter(run.loaders.train))
    assert images.shape[1:] == (1, 28, 28)


THINNING = """
version: 1
model: {arch: digits_cnn}
dataset: {name: fake, size: 16, batch_size: 8}
training: {epochs: 1, optimizer: sgd, lr: 0.01, seed: 1}
pruners:
  filters: {class: L1RankedStructureParameterPruner, group_type: Filters, desired_sparsity: 0.5,
            weights: [conv2.weight]}
extensions:
  thin: {class: FilterRemover, thinning_func_str: remove_filters}
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - extension: {instance_name: thin}
    epochs: [0]
"""


def test_a_resume_rebuilds_layers_from_the_checkpoints_records_not_the_schedulers_copy(tmp_path):
    """`compressor thin` changes a checkpoint's records and leaves its policies' state as the run saved it."""
    train_schedule(tmp_path, "run", THINNING)
    payload = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert payload["policies_state"]["structure"]["thinning"] == payload["thinning"]
    payload["policies_state"]["structure"]["thinning"] = []  # an older record than the model's
    save_checkpoint(payload, tmp_path / "stale.pt")
    resumed, _ = train_schedule(tmp_path, "resumed", THINNING, resume=str(tmp_path / "stale.pt"), epochs=2)
    assert resumed.model.conv2.out_channels == 32 and [record["epoch"] for record in resumed.history] == [0, 1]


def test_a_forward_only_pruned_run_records_and_reports_the_masked_model(tmp_path):
    pruned = """
version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 128}
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, seed: 3}
pruners:
  level: {class: SparsityLevelParameterPruner, levels: {conv2.weight: 0.9, conv3.weight: 0.9, fc1.weight: 0.9}}
policies:
  - pruner: {instance_name: level, args: {mask_on_forward_only: true}}
    epochs: [0, 1]
"""
    run, report = run_schedule(tmp_path, "fo", text=pruned)
    records = [json.loads(line) for line in (tmp_path / "fo" / "metrics.jsonl").read_text().splitlines()]
    assert all(record["sparsity"] > 0.5 for record in records) and report["sparsity"] > 0.5
    best = load_checkpoint(tmp_path / "fo" / "best.pt")
    assert best["masks"]["forward_only"] and best["model_state"]["conv2.weight"].count_nonzero() > 0.5 * 64 * 32 * 9
    model = build_model("digits_cnn")
    model.load_state_dict(best["model_state"])
    dense_top1 = evaluate(model, run.loaders.test, torch.nn.CrossEntropyLoss(), torch.device("cpu")).top1
    with torch.no_grad():
        for name, keep in best["masks"]["masks"].items():
            model.get_parameter(name).mul_(keep)
    masked_top1 = evaluate(model, run.loaders.test, torch.nn.CrossEntropyLoss(), torch.device("cpu")).top1
    assert report["top1"] == masked_top1 != dense_top1
