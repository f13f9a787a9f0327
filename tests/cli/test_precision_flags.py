"""`compressor train --precision / --channels-last / --compile`."""
import torch

from compressor.compression.training import precision as precision_module

SCHEDULE = """version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 256}
training: {epochs: 1, lr: 0.05, seed: 1}
"""


def schedule_file(tmp_path, text=SCHEDULE):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_precision_and_channels_last_flags_train_and_are_reported(cli, tmp_path):
    result = cli("train", "--schedule", schedule_file(tmp_path), "--out", tmp_path / "run", "--precision", "BF16",
                 "--channels-last", "--json", "--threads", "1")
    assert result.code == 0, result.err
    report = result.json()
    assert (report["precision"], report["evaluation_precision"], report["channels_last"]) == ("bf16", "bf16", True)
    assert "training digits_cnn on digits in bf16" in result.err
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=True)["precision"] == "bf16"
    evaluated = cli("evaluate", "--checkpoint", tmp_path / "run" / "best.pt", "--json", "--threads", "1").json()
    assert (evaluated["precision"], evaluated["top1"]) == ("bf16", report["top1"])  # as the run tested it
    in_fp32 = cli("evaluate", "--checkpoint", tmp_path / "run" / "best.pt", "--precision", "fp32", "--json").json()
    assert in_fp32["precision"] == "fp32"


def test_a_failing_compile_is_one_warning_line_and_the_run_goes_on(cli, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Dynamo is not supported here\nTraceback-like detail")

    monkeypatch.setattr(torch, "compile", broken)
    result = cli("train", "--schedule", schedule_file(tmp_path), "--out", tmp_path / "run", "--compile", "--json",
                 "--threads", "1")
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if "torch.compile" in line]
    assert warnings == ["warning: torch.compile failed (RuntimeError: Dynamo is not supported here Traceback-like "
                        "detail): training continues in eager mode"]
    assert "Traceback (most recent call last)" not in result.err
    assert result.json()["compiled"] is False


def test_fp16_on_a_device_that_cannot_run_it_exits_2_with_the_reason(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(precision_module, "probe_autocast", lambda name, device: "no fp16 convolution")
    result = cli("train", "--schedule", schedule_file(tmp_path), "--out", tmp_path / "run", "--precision", "fp16")
    assert result.code == 2
    assert ("precision fp16: cpu cannot compute in fp16 (no fp16 convolution); use --precision bf16 or fp32"
            in result.err)
    assert "Traceback" not in result.err


def test_an_unknown_precision_exits_2_naming_the_flag_or_the_line(cli, tmp_path):
    flag = cli("train", "--schedule", schedule_file(tmp_path), "--out", tmp_path / "a", "--precision", "fp8")
    assert flag.code == 2 and "--precision 'fp8'" in flag.err
    text = SCHEDULE.replace("seed: 1}", "seed: 1, precision: half}")
    written = cli("validate", "--schedule", schedule_file(tmp_path, text))
    assert written.code == 2 and "training.precision (line 4)" in written.err
