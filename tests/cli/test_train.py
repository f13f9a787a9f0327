import json

import pytest
import torch

from compressor.compression.engines.registry import installed_engines

SCHEDULE = """version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 256}
training: {epochs: 2, lr: 0.05, seed: 1}
"""


def test_train_json_writes_run_folder_and_reports(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE)
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["arch"] == "digits_cnn" and report["epochs"] == 2 and 0 <= report["top1"] <= 100
    assert (tmp_path / "run" / "best.pt").exists()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2
    # the dense model on every installed FP32 engine, in the same run as the compressed model
    engines = report["fp32_engines_latency_ms"]
    assert set(engines) == set(installed_engines()) and engines["torch"] == report["dense_latency_ms"]
    assert engines[report["fastest_fp32_engine"]] == min(engines.values())
    assert report["vs_fastest_fp32"]["speedup"] == pytest.approx(min(engines.values()) / report["latency_ms"])
    assert "fp32_engines_skipped" not in report


def test_train_flags_override_the_schedule_and_resume_continues(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE)
    assert cli("train", "--schedule", schedule, "--out", tmp_path / "r", "--epochs", 1, "--json").code == 0
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["epoch"] == 0
    result = cli("train", "--resume", tmp_path / "r" / "checkpoint.pt", "--epochs", 2, "--json")
    assert result.code == 0, result.err
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1]


def test_resume_goes_on_with_the_flags_the_run_was_started_with(cli, tmp_path):
    """--batch-size, --lr, --skip-latency given at the start hold after --resume unless given again."""
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE)
    started = cli("train", "--schedule", schedule, "--out", tmp_path / "r", "--epochs", 1, "--batch-size", 512,
                  "--lr", 0.01, "--skip-latency", "--json")
    assert started.code == 0, started.err
    result = cli("train", "--resume", tmp_path / "r" / "checkpoint.pt", "--epochs", 2, "--json")
    assert result.code == 0, result.err
    assert result.json()["latency_ms"] is None and result.json()["epochs"] == 2
    lines = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [line["lr"] for line in lines] == [0.01, 0.01]
    checkpoint = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert checkpoint["dataset_options"]["batch_size"] == 512 and checkpoint["options"]["epochs"] == 2


def test_train_progress_and_table_go_to_stderr(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 1"))
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "run")
    assert result.code == 0
    assert result.out == "" and "epoch   0" in result.err and "top1" in result.err
    assert "compressed (PyTorch eager): " in result.err and " vs PyTorch eager FP32" in result.err
    assert "(fastest FP32 engine here); dense FP32 medians: PyTorch eager FP32 " in result.err


def test_skip_latency_leaves_the_timings_out_of_the_report(cli, tmp_path, monkeypatch):
    from compressor.compression import report as report_module

    def timed(*args, **kwargs):
        raise AssertionError("the models were timed")

    monkeypatch.setattr(report_module, "latency_report", timed)
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 1"))
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--skip-latency")
    assert result.code == 0, result.err
    assert "not measured (skip_latency)" in result.err and "vs PyTorch eager" not in result.err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["latency_ms"] is None and report["speedup"] is None and report["fp32_engines_latency_ms"] is None


def test_the_report_names_fp32_engines_left_out_and_why(capsys):
    from compressor.cli.engine_render import render_vs_fp32

    report = {"speedup": 1.5, "speedup_measurable": True, "fp32_engines_latency_ms": {"torch": 3.0},
              "fastest_fp32_engine": "torch", "fastest_fp32_label": "PyTorch eager FP32",
              "vs_fastest_fp32": {"speedup": 1.5, "speedup_measurable": True},
              "fp32_engines_skipped": {"openvino": "no FP32 ONNX file: Exporting the operator 'aten::fft_fft2'"}}
    render_vs_fp32("compressed (PyTorch eager)", report, "dense FP32")
    err = capsys.readouterr().err
    assert ("compressed (PyTorch eager): 1.50x vs PyTorch eager FP32 (fastest FP32 engine here); dense FP32 "
            "medians: PyTorch eager FP32 3.00 ms") in err
    assert "note: OpenVINO FP32 not timed: no FP32 ONNX file: Exporting the operator 'aten::fft_fft2'" in err
    render_vs_fp32("compressed", dict(report, vs_fastest_fp32=None))  # not measured: nothing to say
    assert capsys.readouterr().err == ""


def test_a_speed_up_inside_the_noise_is_never_shown_as_a_figure(capsys):
    from compressor.cli.engine_render import render_vs_fp32

    report = {"speedup": 1.8, "speedup_measurable": False,
              "fp32_engines_latency_ms": {"torch": 0.8, "onnxruntime": 0.4},
              "fastest_fp32_engine": "onnxruntime", "fastest_fp32_label": "onnxruntime FP32",
              "vs_fastest_fp32": {"speedup": 0.9, "speedup_measurable": False}}
    render_vs_fp32("compressed (PyTorch eager)", report, "dense FP32")
    err = capsys.readouterr().err
    assert "1.80x" not in err and "0.90x" not in err
    assert ("compressed (PyTorch eager): no measurable difference vs PyTorch eager FP32, no measurable difference "
            "vs onnxruntime FP32 (fastest FP32 engine here)") in err


def test_a_thinned_models_report_title_says_what_was_removed_not_only_its_zeros():
    from compressor.cli.train import _size_said

    report = {"sparsity": 0.0, "params": 108_432, "dense_params": 160_074, "nnz": 108_432, "dense_nnz": 160_074}
    assert _size_said(report) == "sparsity 0.0%, 67.7% of the dense model's non-zeros"
    assert _size_said(dict(report, params=160_074, sparsity=0.5)) == "sparsity 50.0%"


def test_resume_when_already_finished_is_a_user_error(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 1"))
    cli("train", "--schedule", schedule, "--out", tmp_path / "r", "--json")
    result = cli("train", "--resume", tmp_path / "r" / "checkpoint.pt")
    assert result.code == 2 and "nothing to do" in result.err


def _contents(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def test_a_run_folder_is_never_written_over_without_overwrite(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 1"))
    assert cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--json").code == 0
    before = _contents(tmp_path / "run")
    again = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--seed", 7, "--json")
    assert again.code == 2 and "already holds a run" in again.err and "--overwrite" in again.err
    assert _contents(tmp_path / "run") == before
    both = cli("train", "--resume", tmp_path / "run" / "checkpoint.pt", "--overwrite", "--epochs", 2)
    assert both.code == 2 and "not both" in both.err
    assert _contents(tmp_path / "run") == before


def test_overwrite_moves_the_earlier_run_aside_whole(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 1"))
    assert cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--json").code == 0
    before = _contents(tmp_path / "run")
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--overwrite", "--seed", 7, "--json")
    assert result.code == 0, result.err
    moved = [path for path in tmp_path.iterdir() if path.name.startswith("run.replaced-")]
    assert len(moved) == 1 and _contents(moved[0]) == before
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1
    assert _contents(tmp_path / "run")["best.pt"] != before["best.pt"]


def test_a_folder_holding_other_files_is_refused(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = cli("train", "--schedule", schedule, "--out", tmp_path / "mine")
    assert result.code == 2 and "already holds" in result.err
    assert [path.name for path in (tmp_path / "mine").iterdir()] == ["notes.txt"]



TRAINS_BADLY = """from torch import nn


class TupleInTraining(nn.Module):
    input_shape = (1, 8, 8)
    default_dataset = "digits"

    def __init__(self, num_classes=10):
        super().__init__()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        logits = self.fc(x.flatten(1))
        return (logits,) if self.training else logits
"""


def test_a_run_that_stopped_before_its_first_checkpoint_does_not_block_its_out(cli, tmp_path, monkeypatch):
    (tmp_path / "trains_badly.py").write_text(TRAINS_BADLY)
    monkeypatch.syspath_prepend(str(tmp_path))
    schedule = tmp_path / "s.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 1"))
    failed = cli("train", "--schedule", schedule, "--arch", "trains_badly:TupleInTraining", "--out", tmp_path / "run")
    assert failed.code == 1 and [path.name for path in (tmp_path / "run").iterdir()] == ["schedule.yaml"]
    again = cli("train", "--schedule", schedule, "--arch", "digits_cnn", "--out", tmp_path / "run", "--json")
    assert again.code == 0, again.err
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and (tmp_path / "run" / "schedule.yaml").read_text() == \
        schedule.read_text()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith("run")] == ["run"]


AGP = SCHEDULE + """pruners:
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.2, final_sparsity: 0.8, weights: [fc1.weight]}
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 3
    ending_epoch: 6
"""


def test_policies_a_short_run_skips_are_warnings_and_errors_under_strict(cli, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(AGP)
    checked = cli("validate", "--schedule", schedule, "--epochs", 4, "--json")
    assert checked.code == 0, checked.err
    [warning] = checked.json()["warnings"]
    assert "policies[0] (line 8)" in warning and "runs 1 of 3 times, reaching sparsity 20.0% instead of 80.0%" in warning
    refused = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--strict")
    assert refused.code == 2 and "pruner 'agp' is due at epochs 3 to 5, but the run has 2 epochs" in refused.err
    assert not (tmp_path / "run").exists()
    warned = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--epochs", 1)
    assert warned.code == 0 and "warning: policies[0]" in warned.err and "never runs" in warned.err


def test_a_run_from_a_checkpoint_reports_the_start_models_test_top1_and_the_drop(cli, dense_digits, tmp_path):
    schedule = tmp_path / "s.yaml"
    schedule.write_text(f"version: 1\nmodel: {{checkpoint: {dense_digits}}}\n"
                        "training: {epochs: 1, lr: 0.001, skip_latency: true}\n")
    trained = cli("train", "--schedule", schedule, "--out", tmp_path / "run", "--threads", 1, "--json")
    assert trained.code == 0, trained.err
    start = cli("evaluate", "--checkpoint", dense_digits, "--json").json()["top1"]
    assert trained.json()["dense_top1"] == pytest.approx(start)
    shown = cli("train", "--schedule", schedule, "--out", tmp_path / "again", "--threads", 1)
    assert f"{start:.2f}% (start)" in shown.out + shown.err and " points" in shown.out + shown.err


def test_a_refused_resume_writes_nothing(cli, dense_digits, tmp_path):
    """A finished run asked to resume, or to go on in another folder: refused, its folder untouched."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(dense_digits.parent, run)
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\ntraining: {epochs: 4, lr: 0.2}\n")
    finished = cli("train", "--schedule", other, "--resume", run / "checkpoint.pt")
    assert finished.code == 2 and "nothing to do: the checkpoint has finished 4 of 4 epochs" in finished.err
    elsewhere = cli("train", "--resume", run / "checkpoint.pt", "--epochs", 6, "--out", tmp_path / "elsewhere")
    assert elsewhere.code == 2 and "continues the run in its own folder" in elsewhere.err
    assert not (tmp_path / "elsewhere").exists()
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before


def test_under_torchrun_only_the_first_process_says_a_mistake(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "1")
    quiet = cli("train", "--schedule", tmp_path / "missing.yaml")
    assert quiet.code == 2 and quiet.err == ""
    monkeypatch.setenv("RANK", "0")
    said = cli("train", "--schedule", tmp_path / "missing.yaml")
    assert said.code == 2 and "error:" in said.err
