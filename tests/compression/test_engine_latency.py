"""Speed-ups against the fastest FP32 engine installed, and benchmark of exported files beside the models."""
import pytest
import torch

from compressor.compression.benchmark import LatencyResult
from compressor.compression.core.errors import UserError
from compressor.compression.engine_latency import compare_on_engines, measure_with_fp32_engines, vs_fastest_fp32
from compressor.compression.engines.models import load_exported
from compressor.compression.engines.onnx_fp32 import save_fp32_onnx
from compressor.compression.engines.registry import installed_engines
from compressor.compression.model_source import load_model

FAST = {"batch_size": 2, "repeats": 3, "warmup": 1}


def latency(*samples):
    return LatencyResult.from_samples(samples, 2)


def test_the_fastest_fp32_engine_is_the_one_with_the_lowest_median():
    fp32 = {"torch": latency(6, 6, 6), "onnxruntime": latency(3, 3, 3), "openvino": latency(4, 4, 4)}
    summary = vs_fastest_fp32(latency(1, 1, 1), fp32)
    assert summary["fastest_fp32_engine"] == "onnxruntime" and summary["fastest_fp32_label"] == "onnxruntime FP32"
    assert summary["vs_fastest_fp32"]["speedup"] == pytest.approx(3.0)
    assert summary["fp32_engines_latency_ms"] == {"torch": 6, "onnxruntime": 3, "openvino": 4}


def test_every_installed_engine_times_the_fp32_model(tmp_path):
    loaded = load_model(arch="digits_cnn")
    results, fp32, skipped = measure_with_fp32_engines({"model": loaded.model}, loaded.model, (1, 8, 8), tmp_path,
                                                       **FAST)
    assert skipped == {}
    assert set(results) == {"model"} and set(fp32) == set(installed_engines()) == {"torch", "onnxruntime", "openvino"}
    assert all(result.repeats == 3 for result in fp32.values())


def test_exported_files_are_timed_beside_the_model(tmp_path):
    loaded = load_model(arch="digits_cnn")
    save_fp32_onnx(loaded.model.eval(), torch.zeros(1, 1, 8, 8), tmp_path / "model.onnx")
    exported = {"ort": load_exported(tmp_path / "model.onnx"),
                "ov": load_exported(tmp_path / "model.onnx", "openvino")}
    result = compare_on_engines(None, loaded, None, "digits_cnn", exported, tmp_path, **FAST)
    assert "candidate" not in result and [e["engine"] for e in result["exported"]] == ["onnxruntime", "openvino"]
    first = result["exported"][0]
    assert result["speedup"] == pytest.approx(result["baseline"]["median_ms"] / first["median_ms"])
    assert result["vs_fastest_fp32"] == first["vs_fastest_fp32"]


def test_an_exported_file_of_another_input_shape_is_refused(tmp_path):
    loaded = load_model(arch="digits_cnn")
    save_fp32_onnx(loaded.model.eval(), torch.zeros(1, 1, 8, 8), tmp_path / "model.onnx")
    other = load_model(arch="resnet20_cifar")
    with pytest.raises(UserError, match=r"takes input \?x1x8x8, not batches of 3x32x32"):
        compare_on_engines(other, other, "r", "r", {"m": load_exported(tmp_path / "model.onnx")}, tmp_path, **FAST)


def test_an_engine_that_cannot_run_the_model_is_left_out_with_why(tmp_path):
    class Unexportable(torch.nn.Module):
        def forward(self, x):
            return torch.fft.fft2(x).abs()  # no ONNX form in torch.onnx's exporter

    results, fp32, skipped = measure_with_fp32_engines({}, Unexportable(), (1, 4, 4), tmp_path, **FAST)
    assert set(fp32) == {"torch"} and set(skipped) == {"onnxruntime", "openvino"}
    assert all(why.startswith("no FP32 ONNX file") for why in skipped.values())
