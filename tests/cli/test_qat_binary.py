"""A binary QAT run through the CLI: its mistakes refused before anything is written, its checkpoint
evaluated as trained, and converted to int8 with its 1-bit weights exact (1-bit activations refused)."""
import json

import pytest
import torch

from compressor.cli.main import run

SCHEDULE = ("version: 1\ndataset: {{batch_size: {batch}}}\ntraining: {{epochs: {epochs}, lr: 0.05, seed: 0}}\n"
            "quantizers:\n  binary: {quantizer}\npolicies:\n  - quantizer: {{instance_name: binary}}\n"
            "    starting_epoch: 0\n    ending_epoch: {epochs}\n")


def train(cli, folder, quantizer):
    schedule = folder / "binary.yaml"
    schedule.write_text(SCHEDULE.format(quantizer=quantizer, epochs=1, batch=128))
    return cli("train", "--schedule", schedule, "--out", folder / "run", "--json")


@pytest.fixture(scope="module")
def binary_weights(tmp_path_factory):
    """digits_cnn trained 2 epochs with BinaryQuantizer's defaults (1-bit weights, conv1 and fc2 8-bit)."""
    folder = tmp_path_factory.mktemp("binary_weights")
    (folder / "binary.yaml").write_text(SCHEDULE.format(quantizer="{class: BinaryQuantizer}", epochs=2, batch=32))
    assert run(["train", "--schedule", str(folder / "binary.yaml"), "--out", str(folder / "run"),
                "--threads", "1"]) == 0
    return folder


def test_one_bit_activations_on_a_conv_are_refused_before_anything_is_written(cli, tmp_path):
    result = train(cli, tmp_path, "{class: BinaryQuantizer, overrides: {conv2: {bits_activations: 1}}}")
    assert result.code == 2 and "Traceback" not in result.err
    assert "'conv2' asks for 1-bit activations" in result.err and "conv2 (Conv2d)" in result.err
    assert not (tmp_path / "run").exists()


def test_evaluate_rebuilds_the_binary_model(cli, binary_weights):
    result = cli("evaluate", "--checkpoint", binary_weights / "run" / "best.pt", "--json")
    assert result.code == 0, result.err
    trained = json.loads((binary_weights / "run" / "report.json").read_text())
    assert result.json()["top1"] == trained["top1"] and result.json()["loss"] == trained["test_loss"]


def test_int8_conversion_keeps_each_binary_channel_at_two_integers(cli, binary_weights, tmp_path):
    result = cli("quantize", "--checkpoint", binary_weights / "run" / "best.pt", "--out", tmp_path / "q", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["int8"].startswith("x86") and abs(report["qat_top1"] - report["top1"]) <= 1.0, report
    weights = torch.export.load(str(tmp_path / "q" / "model_int8.pt2")).state_dict
    for name in ("conv2.0", "conv3.0", "fc1.0"):  # BatchNorm folded in: still +-scale per channel
        assert max(torch.unique(channel).numel() for channel in weights[f"{name}.weight_int8"]) == 2, name
    assert max(torch.unique(channel).numel() for channel in weights["fc2.weight_int8"]) > 2  # 8-bit layer


def test_statistics_on_a_qat_checkpoint_are_refused(cli, binary_weights, tmp_path):
    """Post-training quantization would convert the FP32 weights behind the binary ones."""
    checkpoint = binary_weights / "run" / "best.pt"
    assert cli("quantize", "--checkpoint", checkpoint, "--collect-stats", tmp_path / "stats.yaml").code == 0
    result = cli("quantize", "--checkpoint", checkpoint, "--stats", tmp_path / "stats.yaml", "--out", tmp_path / "q")
    assert result.code == 2 and "trained with QAT quantizers" in result.err and "without statistics" in result.err
    assert not (tmp_path / "q").exists()


def test_one_bit_activations_have_no_int8_form(cli, tmp_path):
    assert train(cli, tmp_path, "{class: BinaryQuantizer, bits_activations: 1}").code == 0
    result = cli("quantize", "--checkpoint", tmp_path / "run" / "best.pt", "--out", tmp_path / "q")
    assert result.code == 2 and "1-bit activations (relu1, relu2, relu3, relu4) have no int8 form" in result.err
    assert not (tmp_path / "q").exists()
