"""`compressor quantize --stats ... --pack`: the int8 model as a packed file, rebuilt bit for bit."""
import contextlib
import io
import json

import pytest
import torch

from compressor.cli.main import run
import compressor
from compressor.compression.packing import load_packed_model


@pytest.fixture(scope="module")
def packed(dense_digits, tmp_path_factory):
    """The int8 digits model quantized from its statistics with --pack: its folder and the --json report."""
    folder = tmp_path_factory.mktemp("ptq_packed")
    assert run(["quantize", "--checkpoint", str(dense_digits), "--collect-stats", str(folder / "stats.yaml")]) == 0
    output = io.StringIO()  # the `cli` fixture is function-scoped
    with contextlib.redirect_stdout(output):
        code = run(["quantize", "--checkpoint", str(dense_digits), "--stats", str(folder / "stats.yaml"), "--pack",
                    "--out", str(folder / "q"), "--json"])
    assert code == 0
    return folder / "q", json.loads(output.getvalue())


def test_the_packed_int8_file_is_listed_and_small(packed):
    folder, report = packed
    path = folder / "model_int8.cpk"
    assert report["files"]["int8_packed"] == str(path) and report["packed_file_bytes"] == path.stat().st_size
    assert report["packed_file_bytes"] <= report["fp32_file_bytes"] / 3.5
    assert report["packed_ratio_vs_fp32"] >= 3.5 and report["packed_int8_bits_per_weight"] <= 8.0
    assert report["packed_max_abs_diff"] == 0.0


def test_the_rebuilt_int8_model_computes_what_quantize_built(packed):
    folder, _ = packed
    images = torch.rand(16, 1, 8, 8) * 16
    expected = torch.jit.load(str(folder / "model_int8.pt"))(images)
    assert torch.equal(compressor.load_packed_int8(folder / "model_int8.cpk")(images), expected)
    model = load_packed_model(folder / "model_int8.cpk")  # FP32, BatchNorm folded, weights on the int8 grid
    assert isinstance(model.bn3, torch.nn.Identity)
    weight = model.conv3.weight.detach()
    steps = weight.abs()[weight != 0].min()
    assert len(torch.unique(weight)) <= 256 and torch.allclose(weight / steps, (weight / steps).round(), atol=1e-3)


def test_evaluate_gives_the_int8_top1_and_a_truncated_file_is_refused(cli, packed, tmp_path):
    folder, report = packed
    evaluated = cli("evaluate", "--checkpoint", folder / "model_int8.cpk", "--json")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["int8"] is True and evaluated.json()["top1"] == report["top1"]
    broken = tmp_path / "broken.cpk"
    broken.write_bytes((folder / "model_int8.cpk").read_bytes()[:-100])
    result = cli("evaluate", "--checkpoint", broken)
    assert result.code == 2 and "truncated or altered" in result.err


def test_benchmark_and_export_take_the_int8_model_a_packed_int8_file_holds(cli, packed, tmp_path, monkeypatch):
    """As evaluate does: not the FP32 model of its dequantized weights."""
    from compressor.compression import packing_int8

    folder, _ = packed
    built = []
    real = packing_int8.int8_from_payload
    monkeypatch.setattr(packing_int8, "int8_from_payload", lambda *args: built.append(1) or real(*args))
    bench = cli("benchmark", "--checkpoint", folder / "model_int8.cpk", "--repeats", 2, "--warmup", 1, "--json")
    assert bench.code == 0, bench.err
    assert built, "benchmark timed the dequantized FP32 model"
    exported = cli("export", "--checkpoint", folder / "model_int8.cpk", "--format", "onnx", "--out",
                   tmp_path / "m.onnx", "--json")
    assert exported.code == 0, exported.err
    assert exported.json()["int8"] is True and exported.json()["top1_agreement"] >= 0.99


def test_export_packed_int8_points_to_quantize_pack(cli, dense_digits, tmp_path):
    refused = cli("export", "--checkpoint", dense_digits, "--format", "packed", "--int8", "--out", tmp_path / "x.cpk")
    assert refused.code == 2 and "quantize" in refused.err and "--pack" in refused.err


def test_a_model_that_folded_a_batchnorm_in_training_packs_as_int8(dense_digits, tmp_path):
    """conv3's BatchNorm folded by training, conv1's and conv2's by the int8 kernels: both rebuild."""
    schedule = tmp_path / "fold.yaml"
    schedule.write_text(f"version: 1\nmodel: {{arch: digits_cnn, checkpoint: {dense_digits}}}\n"
                        "training: {epochs: 1, lr: 0.001}\n"
                        "extensions: {fold: {class: BatchNormFolder, layers: [conv3]}}\n"
                        "policies:\n  - extension: {instance_name: fold}\n    epochs: [0]\n")
    assert run(["train", "--schedule", str(schedule), "--out", str(tmp_path / "run"), "--threads", "1"]) == 0
    folded = tmp_path / "run" / "best.pt"
    assert run(["quantize", "--checkpoint", str(folded), "--collect-stats", str(tmp_path / "stats.yaml")]) == 0
    assert run(["quantize", "--checkpoint", str(folded), "--stats", str(tmp_path / "stats.yaml"), "--pack",
                "--out", str(tmp_path / "q")]) == 0
    images = torch.rand(16, 1, 8, 8) * 16
    expected = torch.jit.load(str(tmp_path / "q" / "model_int8.pt"))(images)
    assert torch.equal(compressor.load_packed_int8(tmp_path / "q" / "model_int8.cpk")(images), expected)


FUNCTIONAL = """import torch
from torch import nn


class Functional(nn.Module):
    input_shape, num_classes, default_dataset = (1, 8, 8), 10, "digits"

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 8 * 8, 32)
        self.fc2 = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.conv(x).flatten(1))))  # functional ops stay FP32 in int8
"""


def test_activations_of_ops_left_in_fp32_are_rebuilt_from_the_file_not_from_a_zero_image(cli, tmp_path, monkeypatch):
    """The int8 model re-quantizes the outputs of flatten and torch.relu (FP32) before the next int8 layer; those
    scales come from the calibration images, which a packed file does not hold."""
    (tmp_path / "functional.py").write_text(FUNCTIONAL)
    monkeypatch.syspath_prepend(str(tmp_path))
    from functional import Functional

    torch.manual_seed(0)
    model = Functional()
    for parameter in model.parameters():
        parameter.data.mul_(3)  # outputs far from what a zero image gives
    compressor.save_checkpoint(model, tmp_path / "m.pt", arch="functional:Functional")
    assert cli("quantize", "--checkpoint", tmp_path / "m.pt", "--collect-stats", tmp_path / "s.yaml").code == 0
    quantized = cli("quantize", "--checkpoint", tmp_path / "m.pt", "--stats", tmp_path / "s.yaml", "--pack",
                    "--out", tmp_path / "q", "--json")
    assert quantized.code == 0, quantized.err
    assert quantized.json()["packed_max_abs_diff"] == 0.0
    images = torch.rand(16, 1, 8, 8) * 16
    expected = torch.jit.load(str(tmp_path / "q" / "model_int8.pt"))(images)
    assert torch.equal(compressor.load_packed_int8(tmp_path / "q" / "model_int8.cpk")(images), expected)
