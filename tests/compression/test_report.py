"""The compression report, against counts made by hand on a tiny model with known weights and zeros."""
import time

import pytest
import torch
from torch import nn

from compressor.compression import engine_latency
from compressor.compression.benchmark import LatencyResult
from compressor.compression.engines.registry import FP32_LABELS, installed_engines
from compressor.compression.packing import fp32_bytes
from compressor.compression.report import LATENCY_KEYS, compression_report, state_dict_bytes

SHAPE = (1, 8, 8)
FLOAT_BYTES = 4


class Tiny(nn.Module):
    """conv 1->4 (3x3, padding 1) on 8x8, then linear 256->classes; optionally slow."""

    def __init__(self, classes=10, delay_s=0.0):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, classes)
        self.delay_s = delay_s

    def forward(self, x):
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.fc(torch.relu(self.conv(x)).flatten(1))


# By hand: conv weight 4*1*3*3 = 36, conv bias 4, fc weight 256*10 = 2560, fc bias 10.
PARAMS = 36 + 4 + 2560 + 10
# MACs of one image: conv 4 filters * 8*8 positions * 9 taps; fc 256 * 10.
CONV_MACS, FC_MACS = 4 * 64 * 9, 256 * 10


def _known_model(delay_s=0.0):
    """Half the conv filters zeroed, one conv bias zeroed, a quarter of fc's input channels zeroed."""
    model = Tiny(delay_s=delay_s)
    with torch.no_grad():
        model.conv.weight.fill_(0.5)
        model.conv.weight[:2] = 0  # 18 of 36 weights
        model.conv.bias.copy_(torch.tensor([0.0, 1.0, 1.0, 1.0]))  # 1 of 4 biases
        model.fc.weight.fill_(-0.25)
        model.fc.weight[:, :64] = 0  # 640 of 2560 weights
        model.fc.bias.fill_(0.1)
    return model


@pytest.fixture
def pruned(tmp_path):
    model = _known_model(delay_s=0.02)
    path = tmp_path / "best.pt"
    torch.save({"model_state": model.state_dict()}, path)
    return model, path


def test_report_on_a_model_with_half_its_conv_filters_zeroed(pruned):
    model, path = pruned
    dense = Tiny()
    with torch.no_grad():
        dense.fc.bias.zero_()  # as a fresh model's zero-initialised biases: not counted as sparsity
    report = compression_report(dense, model, SHAPE, path, dense_top1=97.5, top1=97.0,
                                batch_size=2, repeats=3, warmup=1)
    assert report["params"] == report["dense_params"] == PARAMS
    assert report["dense_nnz"] == PARAMS  # the dense model's count is its parameter count
    assert report["nnz"] == PARAMS - 18 - 1 - 640
    assert report["sparsity"] == pytest.approx((18 + 640) / (36 + 2560))  # zeros among Conv/Linear weights
    assert report["macs"] == report["dense_macs"] == CONV_MACS + FC_MACS
    assert report["effective_macs"] == CONV_MACS // 2 + FC_MACS * 3 // 4  # MACs scaled by each layer's density
    payload = PARAMS * FLOAT_BYTES
    assert report["file_bytes"] == report["dense_file_bytes"]  # same tensors, same sizes: zeros are not smaller
    assert payload <= report["file_bytes"] <= payload + 4096
    assert report["checkpoint_bytes"] == path.stat().st_size
    assert report["dense_top1"] == 97.5 and report["top1"] == 97.0
    # the compressed model sleeps 20 ms in every forward pass; the dense one does not
    assert report["latency_ms"] >= 20.0 and report["dense_latency_ms"] > 0
    assert report["dense_latency_ms"] < report["latency_ms"] and report["speedup"] < 1
    assert report["speedup"] == pytest.approx(report["dense_latency_ms"] / report["latency_ms"])
    assert report["latency_batch_size"] == 2
    # the dense model also ran on every installed FP32 engine in the same run; PyTorch eager's is dense_latency_ms
    engines = report["fp32_engines_latency_ms"]
    assert set(engines) == set(installed_engines()) and engines["torch"] == report["dense_latency_ms"]
    fastest = report["fastest_fp32_engine"]
    assert engines[fastest] == min(engines.values()) and report["fastest_fp32_label"] == FP32_LABELS[fastest]
    assert report["vs_fastest_fp32"]["speedup"] == pytest.approx(engines[fastest] / report["latency_ms"])
    assert "fp32_engines_skipped" not in report


class Unexportable(Tiny):
    def forward(self, x):
        return super().forward(torch.fft.fft2(x).abs())  # fft has no ONNX form in torch.onnx's exporter


class BatchOfOneInOnnx(Tiny):
    def forward(self, x):
        features = torch.relu(self.conv(x)).reshape(int(x.shape[0]), 256)  # traced as the example's batch of 1
        return self.fc(features)


@pytest.mark.parametrize("dense, why", [(Unexportable(), "no FP32 ONNX file"),
                                        (BatchOfOneInOnnx(), "does not run the FP32 ONNX file on a batch of 2")])
def test_a_dense_model_other_engines_cannot_run_is_timed_on_pytorch_only_with_why(dense, why, capfd):
    report = compression_report(dense, _known_model(), SHAPE, batch_size=2, repeats=2, warmup=1)
    assert capfd.readouterr().out == ""  # stdout carries --json output: the exporter's graph dump is not on it
    others = {name for name in installed_engines() if name != "torch"}
    assert set(report["fp32_engines_skipped"]) == others and others
    assert all(reason.startswith(why) for reason in report["fp32_engines_skipped"].values())
    assert report["fp32_engines_latency_ms"] == {"torch": report["dense_latency_ms"]}
    assert report["fastest_fp32_engine"] == "torch"
    assert report["vs_fastest_fp32"]["speedup"] == pytest.approx(report["speedup"])


def test_on_another_device_only_pytorch_times_the_dense_model(monkeypatch):
    """onnxruntime and OpenVINO run on the CPU: beside a model timed on a GPU they are left out, with why."""
    timed = {}

    def fake_measure_latency(models, input_shape, device, **options):  # no GPU here: the timing is stood in for
        timed.update(models=list(models), device=device)
        return {name: LatencyResult.from_samples([2.0, 2.0], options["batch_size"]) for name in models}

    monkeypatch.setattr(engine_latency, "measure_latency", fake_measure_latency)
    report = compression_report(Tiny(), _known_model(), SHAPE, batch_size=2, device="cuda")
    assert timed["device"] == "cuda" and len(timed["models"]) == 2  # the compressed and the dense model only
    assert report["fp32_engines_latency_ms"] == {"torch": 2.0} and report["fastest_fp32_engine"] == "torch"
    assert report["fp32_engines_skipped"] == {name: "runs on the CPU only" for name in installed_engines()
                                              if name != "torch"}


def test_a_smaller_model_has_a_smaller_file_and_fewer_parameters():
    small, large = Tiny(classes=10), Tiny(classes=1000)
    report = compression_report(large, small, SHAPE, measure_speed=False)
    assert report["params"] == PARAMS and report["dense_params"] == 40 + 256 * 1000 + 1000
    assert report["dense_macs"] == CONV_MACS + 256 * 1000 and report["macs"] == CONV_MACS + FC_MACS
    assert report["checkpoint_bytes"] is None
    # the files differ by the 990 rows of fc (weight and bias) that the small model lacks, up to zip padding
    extra = (report["dense_params"] - report["params"]) * FLOAT_BYTES
    assert abs(report["dense_file_bytes"] - report["file_bytes"] - extra) <= 4 * 64  # 4 tensors, 64-byte aligned
    assert report["file_bytes"] == state_dict_bytes(small)


def test_the_report_and_packed_files_measure_one_weights_file_alike():
    """The report's weights file, `export --format packed`'s FP32 file and the dense architecture's: one size for
    one unthinned architecture, trained or fresh."""
    trained, fresh = Tiny(classes=10), Tiny(classes=10)
    with torch.no_grad():
        trained.fc.weight.mul_(0.5)
    report = compression_report(fresh, trained, SHAPE, measure_speed=False)
    assert report["file_bytes"] == report["dense_file_bytes"] == fp32_bytes(trained) == fp32_bytes(fresh)


def test_without_speed_measurement_the_latency_keys_are_none(pruned):
    model, path = pruned
    report = compression_report(Tiny(), model, SHAPE, path, None, 90.0, measure_speed=False)
    assert all(report[key] is None for key in LATENCY_KEYS) and "vs_fastest_fp32" in LATENCY_KEYS
    assert report["dense_top1"] is None and report["top1"] == 90.0
