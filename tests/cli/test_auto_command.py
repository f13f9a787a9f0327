"""`compressor auto`: a digits CNN to half its MACs, the schedule that reproduces it, and bad input."""
import json

import pytest
from torch.utils.data import Subset

from compressor.cli.main import run
from compressor.compression.engines.registry import installed_engines
from compressor.compression.workflows import auto_job
from helpers import assert_train_reproduces

ONE_THREAD = ("--threads", "1")
QUICK = ("--step", "0.25", "--finetune-epochs", "1", "--round-steps", "0", *ONE_THREAD)


@pytest.fixture(scope="module")
def halved(dense_digits):
    """`auto --target macs=0.5` on it: the run folder and its report."""
    out = dense_digits.parent.parent / "halved"
    code = run(["auto", "--checkpoint", str(dense_digits), "--target", "macs=0.5", "--tolerance", "2",
                "--out", str(out), *QUICK])
    assert code == 0
    return out, json.loads((out / "report.json").read_text())


def test_meets_half_the_macs_and_the_checkpoint_evaluates(cli, halved):
    out, report = halved
    assert report["target"] == {"kind": "macs", "ratio": 0.5} and report["target_met"] is True
    assert report["reached"] == report["ratios"]["macs"] <= 0.5
    assert report["compressed"]["macs"] <= 0.5 * report["dense"]["macs"]
    assert report["val_top1_drop"] <= 2.0 and report["shortfalls"] == []
    evaluated = cli("evaluate", "--checkpoint", out / "best.pt", "--json", *ONE_THREAD)
    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["top1"] == pytest.approx(report["compressed"]["test_top1"])


def test_report_files_and_kept_fractions(halved):
    out, report = halved
    assert [row["layer"] for row in report["layers"]] == ["conv1", "conv2", "conv3", "fc1"]
    assert any(row["kept"] < row["channels"] for row in report["layers"])
    assert all(row["kept_fraction"] == row["kept"] / row["channels"] for row in report["layers"])
    assert (out / "kept_fractions.png").read_bytes()[:4] == b"\x89PNG"
    rounds = json.loads((out / "search.json").read_text())
    assert rounds[0]["ratio"] == 1.0 and rounds[-1]["ratio"] == report["search"]["chosen_cost_ratio"] <= 0.5
    assert list(out.glob("events.out.tfevents*.auto"))
    assert {"test_top1", "val_top1", "macs", "params", "file_bytes", "latency_ms"} <= set(report["dense"])


def test_the_speedup_is_also_given_against_the_fastest_fp32_engine(halved, capsys):
    from compressor.cli.auto import render_report

    _, report = halved
    engines = report["fp32_engines_latency_ms"]
    assert set(engines) == set(installed_engines()) and engines["torch"] == report["dense"]["latency_ms"]
    assert engines[report["fastest_fp32_engine"]] == min(engines.values())
    assert report["vs_fastest_fp32"]["speedup"] == pytest.approx(min(engines.values()) /
                                                                 report["compressed"]["latency_ms"])
    render_report(report)
    assert "(fastest FP32 engine here); dense FP32 medians: PyTorch eager FP32 " in capsys.readouterr().err


def test_train_runs_the_schedule_to_the_same_architecture(cli, halved, tmp_path):
    out, _ = halved
    assert_train_reproduces(cli, out, tmp_path / "again")


def test_a_parameter_target_shrinks_the_linear_layer_and_train_reproduces_it(cli, dense_digits, tmp_path):
    """fc1 holds 41% of digits_cnn's parameters: its rows are searched (their biases pruned with them)."""
    out = tmp_path / "params"
    result = cli("auto", "--checkpoint", dense_digits, "--target", "params=0.4", "--tolerance", "2", "--step", "0.5",
                 "--finetune-epochs", "1", "--round-steps", "0", "--out", out, "--json", *ONE_THREAD)
    assert result.code == 0, result.err
    report = result.json()
    assert report["target_met"] is True and report["ratios"]["params"] <= 0.4
    fc1 = next(row for row in report["layers"] if row["layer"] == "fc1")
    assert fc1["kept"] < fc1["channels"] and "rows_fc1:" in (out / "schedule.yaml").read_text()
    assert_train_reproduces(cli, out, tmp_path / "again")


def test_a_checkpoint_with_its_own_class_count_is_fine_tuned_with_it(cli, tmp_path):
    """The written schedule carries the checkpoint's class count and input size, not the arch's own."""
    schedule = tmp_path / "dense.yaml"
    schedule.write_text("version: 1\ndataset: {batch_size: 128}\ntraining: {epochs: 1, lr: 0.05, seed: 0}\n")
    assert cli("train", "--schedule", schedule, "--num-classes", "12", "--out", tmp_path / "dense", *ONE_THREAD).code == 0
    out = tmp_path / "auto"
    result = cli("auto", "--checkpoint", tmp_path / "dense" / "best.pt", "--target", "params=0.5", "--tolerance", "50",
                 "--step", "0.5", "--finetune-epochs", "1", "--round-steps", "0", "--out", out, *ONE_THREAD)
    assert result.code == 0, result.err
    assert "num_classes: 12" in (out / "schedule.yaml").read_text()


def test_unreachable_target_keeps_the_best_result_and_says_so(cli, dense_digits, tmp_path):
    out = tmp_path / "tiny"
    result = cli("auto", "--checkpoint", dense_digits, "--target", "params=0.05", "--tolerance", "50", "--step", "0.5",
                 "--hold-out", "conv1", "--hold-out", "conv2", "--round-steps", "2", "--finetune-epochs", "1",
                 "--out", out, "--json", *ONE_THREAD)
    assert result.code == 0, result.err
    report = result.json()
    assert report["target_met"] is False and "above the target" in report["shortfalls"][0]
    assert report["search"]["stopped_because"] == "no filter group can shrink any further"
    assert [row["layer"] for row in report["layers"]] == ["conv3", "fc1"] and "held out" in report["left_out"]["conv1"]
    assert (out / "best.pt").exists() and json.loads((out / "report.json").read_text())["target_met"] is False


def test_latency_target_is_measured(cli, dense_digits, tmp_path):
    result = cli("auto", "--checkpoint", dense_digits, "--target", "latency=0.9", "--tolerance", "50", "--step", "0.5",
                 "--hold-out", "conv[12]", "--latency-repeats", "3", "--batch-size", "4", "--finetune-epochs", "1",
                 "--round-steps", "0", "--out", tmp_path / "fast", "--json", *ONE_THREAD)
    assert result.code == 0, result.err
    report = result.json()
    assert report["target"]["kind"] == "latency" and report["reached"] == report["ratios"]["latency"] > 0
    assert report["latency_batch_size"] == 4 and isinstance(report["target_met"], bool)


@pytest.mark.parametrize("flags, message", [
    (["--target", "macs=1.2"], "between 0 and 1"),
    (["--target", "macs=0"], "between 0 and 1"),
    (["--target", "flops=0.5"], "unknown cost kind 'flops'"),
    (["--amc-episodes", "5"], "--amc-episodes: only with --strategy amc"),
    (["--strategy", "random"], "unknown strategy 'random'"),
    (["--hold-out", "conv"], "--hold-out 'conv' matches no Conv/Linear layer"),
    (["--hold-out", ".*"], "no layer can serve --target macs=0.5"),
])
def test_bad_input_exits_2_and_writes_nothing(cli, dense_digits, tmp_path, flags, message):
    out = tmp_path / "never"
    args = ["--checkpoint", dense_digits, "--target", "macs=0.5", "--tolerance", "1", "--out", out, *ONE_THREAD]
    result = cli("auto", *args, *flags)
    assert result.code == 2 and message in result.err, result.err
    assert not out.exists()


def test_a_dataset_without_validation_images_is_refused(cli, dense_digits, tmp_path, monkeypatch):
    real = auto_job.build_datasets

    def without_validation(*args):
        splits = real(*args)
        splits.val = Subset(splits.val, [])
        return splits

    monkeypatch.setattr(auto_job, "build_datasets", without_validation)
    out = tmp_path / "never"
    result = cli("auto", "--checkpoint", dense_digits, "--target", "macs=0.5", "--tolerance", "1", "--out", out,
                 *ONE_THREAD)
    assert result.code == 2 and "has no validation split" in result.err and not out.exists()


def test_an_existing_run_folder_needs_overwrite(cli, dense_digits, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    result = cli("auto", "--checkpoint", dense_digits, "--target", "macs=0.5", "--tolerance", "1", "--out", out,
                 *ONE_THREAD)
    assert result.code == 2 and "already holds a run" in result.err
    assert [path.name for path in out.iterdir()] == ["mine.txt"]
