from pathlib import Path

import pytest
import torch

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model
from compressor.compression.schedule import load_schedule, parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run

ARGS = ("--sparsities", "0,0.5,0.9", "--eval-samples", "64")
HEADER = "parameter,sparsity,top1,top5,loss"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digits CNN trained for one epoch: its baseline is far above chance."""
    folder = tmp_path_factory.mktemp("trained")
    text = "version: 1\ndataset: {batch_size: 64}\ntraining: {epochs: 1, lr: 0.05, seed: 0}\n"
    fit(prepare_run(apply_overrides(parse_schedule_text(text), TrainOptions(out=str(folder))),
                    write_tensorboard=False))
    return folder / "best.pt"


def test_sensitivity_json_and_files_of_an_untrained_model_warn(cli, tmp_path):
    out = tmp_path / "sens"
    torch.manual_seed(0)
    result = cli("sensitivity", "--model", "digits_cnn", *ARGS, "--out", out, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert set(data) == {"csv", "png", "schedule", "baseline_top1", "baseline_at_chance", "warnings", "layers",
                         "evaluations", "processes", "seconds"}
    assert data["evaluations"] == 5 * 3
    assert set(data["layers"]) == {"conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"}
    assert data["baseline_at_chance"] is True and len(data["warnings"]) == 1
    assert "chance level" in data["warnings"][0] and result.err.strip().startswith("warning: " + data["warnings"][0])
    lines = (out / "sensitivity.csv").read_text().splitlines()
    assert lines[0].startswith("# warning: ") and "chance level" in lines[0] and lines[1] == HEADER
    assert (out / "sensitivity.png").read_bytes()[:4] == b"\x89PNG"
    assert list((out / "tensorboard").glob("events.out.tfevents*"))
    load_schedule(out / "suggested_schedule.yaml")
    assert "# warning: " in (out / "suggested_schedule.yaml").read_text().split("version: 1")[0]
    assert "meaningless" in (out / "suggested_schedule.yaml").read_text()
    assert cli("validate", "--schedule", out / "suggested_schedule.yaml").code == 0
    dense = [line.split(",") for line in lines[2:]]
    assert all(float(top1) == pytest.approx(data["baseline_top1"], abs=1e-4)
               for _, level, top1, _, _ in dense if float(level) == 0)


def test_sensitivity_of_a_trained_model_without_level_zero(cli, trained, tmp_path):
    result = cli("sensitivity", "--checkpoint", trained, "--sparsities", "0.5", "--eval-samples", "32",
                 "--out", tmp_path / "s", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["baseline_top1"] > 50 and data["evaluations"] == 5
    assert data["baseline_at_chance"] is False and data["warnings"] == [] and "warning" not in result.err
    assert (tmp_path / "s" / "sensitivity.csv").read_text().startswith(HEADER + "\n")
    assert "warning" not in (tmp_path / "s" / "suggested_schedule.yaml").read_text()


def test_sensitivity_table_with_checkpoint_into_runs(cli, trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("sensitivity", "--model", "digits_cnn", "--checkpoint", trained, *ARGS, "--granularity", "filter")
    assert result.code == 0, result.err
    assert "conv2.weight" in result.err and "warning" not in result.err
    assert f"TensorBoard events in {Path('runs', 'sensitivity-digits_cnn', 'tensorboard')} (" in result.err
    schedule = load_schedule(tmp_path / "runs" / "sensitivity-digits_cnn" / "suggested_schedule.yaml")
    # pruned as swept: whole filters (rows of the Linear layers), thinned away, fine-tuned at a fifth of the lr
    pruners = schedule.components["pruners"].values()
    assert pruners and {spec.class_name for spec in pruners} == {"L1RankedStructureParameterPruner_AGP"}
    assert {spec.config.group_type for spec in pruners} <= {"Filters", "Rows"}
    assert all(spec.config.prune_bias for spec in pruners if spec.config.group_type == "Rows")
    assert [spec.class_name for spec in schedule.components["extensions"].values()] == ["FilterRemover"]
    assert schedule.training.lr == pytest.approx(0.01)
    assert cli("validate", "--schedule", tmp_path / "runs" / "sensitivity-digits_cnn" / "suggested_schedule.yaml"
               ).code == 0


def test_the_default_folder_of_an_own_model_is_one_folder_under_runs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tinynet.py").write_text(
        "from torch import nn\n"
        "def Net(num_classes=10):\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),\n"
        "                         nn.Linear(4, num_classes))\n"
        "Net.input_shape = (1, 8, 8)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = cli("sensitivity", "--arch", "tinynet:Net", "--dataset", "fake", "--sparsities", "0,0.5",
                 "--eval-samples", "16")
    assert result.code == 0, result.err
    assert [path.name for path in (tmp_path / "runs").iterdir()] == ["sensitivity-tinynet_Net"]


def _bad(cli, tmp_path, *args):
    result = cli("sensitivity", *args, "--out", tmp_path / "never")
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    assert not (tmp_path / "never").exists()
    return result


def test_bad_input_exits_2_and_writes_nothing(cli, tmp_path):
    _bad(cli, tmp_path, "--model", "digits_cnn", "--sparsities", "0,1.5")
    _bad(cli, tmp_path, "--model", "digits_cnn", "--sparsities", "")
    _bad(cli, tmp_path, "--model", "digits_cnn", "--sparsities", "0:x:0.1")
    _bad(cli, tmp_path, "--model", "digits_cnn", "--granularity", "kernel")
    assert "did you mean" in _bad(cli, tmp_path, "--model", "digits_cn").err
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "dataset": "digits", "epoch": 0,
                     "model_state": build_model("digits_cnn").state_dict()}, tmp_path / "m.pt")
    assert "does not match" in _bad(cli, tmp_path, "--model", "simplenet_mnist", "--checkpoint", tmp_path / "m.pt").err
