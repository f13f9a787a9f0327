import pytest
import torch

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model
from compressor.compression.schedule import load_schedule

ARGS = ("--sparsities", "0,0.5,0.9", "--eval-samples", "64")


def test_sensitivity_json_and_files(cli, tmp_path):
    out = tmp_path / "sens"
    result = cli("sensitivity", "--model", "digits_cnn", *ARGS, "--out", out, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert set(data) == {"csv", "png", "schedule", "baseline_top1", "layers", "evaluations", "seconds"}
    assert data["evaluations"] == 5 * 3
    assert set(data["layers"]) == {"conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"}
    assert (out / "sensitivity.csv").read_text().startswith("parameter,sparsity,top1,top5,loss\n")
    assert (out / "sensitivity.png").read_bytes()[:4] == b"\x89PNG"
    assert list((out / "tensorboard").glob("events.out.tfevents*"))
    load_schedule(out / "suggested_schedule.yaml")
    assert cli("validate", "--schedule", out / "suggested_schedule.yaml").code == 0
    dense = [line.split(",") for line in (out / "sensitivity.csv").read_text().splitlines()[1:]]
    assert all(float(top1) == pytest.approx(data["baseline_top1"], abs=1e-4)
               for _, level, top1, _, _ in dense if float(level) == 0)


def test_sensitivity_without_level_zero_still_reports_the_baseline(cli, tmp_path):
    result = cli("sensitivity", "--model", "digits_cnn", "--sparsities", "0.5", "--eval-samples", "32",
                 "--out", tmp_path / "s", "--json")
    assert result.code == 0, result.err
    assert 0 <= result.json()["baseline_top1"] <= 100 and result.json()["evaluations"] == 5


def test_sensitivity_table_with_checkpoint(cli, tmp_path):
    torch.manual_seed(0)
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "dataset": "digits", "epoch": 0,
                     "model_state": build_model("digits_cnn").state_dict()}, tmp_path / "m.pt")
    result = cli("sensitivity", "--model", "digits_cnn", "--checkpoint", tmp_path / "m.pt", *ARGS,
                 "--granularity", "filter", "--out", tmp_path / "s")
    assert result.code == 0, result.err
    assert "conv2.weight" in result.err and (tmp_path / "s" / "suggested_schedule.yaml").exists()


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
