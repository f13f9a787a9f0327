import pytest

from compressor.compression.errors import UserError
from compressor.compression.export import calibration_images, export_fp32, export_int8
from compressor.compression.model_source import load_model
from compressor.datasets import DatasetConfig


@pytest.fixture(scope="module")
def digits():
    loaded = load_model(arch="digits_cnn")
    return loaded, calibration_images(loaded, DatasetConfig(name="digits"), 48)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_fp32_export_matches_pytorch(digits, fmt, tmp_path):
    loaded, _ = digits
    out = tmp_path / f"model.{fmt}"
    result = export_fp32(loaded.model, (1, 8, 8), fmt, out)
    assert result.max_abs_diff < 1e-4 and result.file_bytes == out.stat().st_size
    assert "top1_agreement" not in result.to_dict() and result.to_dict()["int8"] is False


def test_int8_onnx_runs_in_onnxruntime_and_agrees(digits, tmp_path):
    import onnx

    loaded, images = digits
    out = tmp_path / "int8.onnx"
    result = export_int8(loaded.model, "onnx", out, images)
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert result.int8 and result.top1_agreement >= 0.9 and result.max_abs_diff < 0.1
    assert result.file_bytes < 0.5 * 640_000  # FP32 ONNX of digits_cnn is about 640 kB


def test_int8_torchscript_matches_pytorch_int8(digits, tmp_path):
    loaded, images = digits
    result = export_int8(loaded.model, "torchscript", tmp_path / "int8.pt", images)
    assert result.max_abs_diff == 0.0 and result.top1_agreement == 1.0


def test_calibration_images_are_the_first_training_images(digits):
    _, images = digits
    assert images.shape == (48, 1, 8, 8)


def test_unknown_format_and_calibration_size(digits, tmp_path):
    loaded, _ = digits
    with pytest.raises(UserError, match="unknown export format 'tflite'"):
        export_fp32(loaded.model, (1, 8, 8), "tflite", tmp_path / "x")
    with pytest.raises(UserError, match="calibration size"):
        calibration_images(loaded, DatasetConfig(name="digits"), 0)
