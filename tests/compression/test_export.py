import pytest
import torch
from torch import nn

from compressor.compression.core.errors import UserError
from compressor.compression.export import calibration_images, export_fp32, export_int8
from compressor.compression.model_source import load_model
from compressor.compression.quantization.int8_backend import convert_to_int8
from compressor.datasets import DatasetConfig, build_datasets


@pytest.fixture(scope="module")
def digits():
    loaded = load_model(arch="digits_cnn")
    return loaded, calibration_images(loaded, DatasetConfig(name="digits"), 48)


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "torchscript"])
def test_fp32_export_matches_pytorch(digits, fmt, tmp_path):
    loaded, _ = digits
    out = tmp_path / f"model.{fmt}"
    result = export_fp32(loaded.model, (1, 8, 8), fmt, out)
    assert result.max_abs_diff < 1e-4 and result.file_bytes == out.stat().st_size
    assert "top1_agreement" not in result.to_dict() and result.to_dict()["int8"] is False


def test_int8_onnx_is_the_pytorch_int8_model_and_agrees_in_onnxruntime(digits, tmp_path):
    import onnx
    from onnx import numpy_helper

    loaded, images = digits
    out = tmp_path / "int8.onnx"
    result = export_int8(loaded.model, "onnx", out, images)
    graph = onnx.load(str(out)).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in graph.node}
    assert result.quantized_by == "the PyTorch int8 model"
    int8 = convert_to_int8(loaded.model.eval(), (images[:16],), images.split(16))
    first_quantize = next(node for node in graph.node if node.op_type == "QuantizeLinear")
    scale = _onnx_value(graph, first_quantize.input[1], numpy_helper)
    assert scale == pytest.approx(float(int8.module.conv1_input_scale_0))  # the same quantization, not a recalibration
    assert result.int8 and result.top1_agreement >= 0.9 and result.max_abs_diff < 0.1
    assert result.file_bytes < 0.5 * 640_000  # FP32 ONNX of digits_cnn is about 640 kB


def _onnx_value(graph, name, numpy_helper):
    for tensor in graph.initializer:
        if tensor.name == name:
            return float(numpy_helper.to_array(tensor))
    node = next(node for node in graph.node if name in node.output)  # a Constant node
    return float(numpy_helper.to_array(node.attribute[0].t))


def test_an_op_without_an_int8_form_stays_fp32_in_the_int8_onnx_file(tmp_path):
    import onnx

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ELU(), nn.Flatten(), nn.Linear(144, 3)).eval()
    images = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    result = export_int8(model, "onnx", tmp_path / "elu.onnx", images)
    assert result.quantized_by == "the PyTorch int8 model" and result.top1_agreement >= 0.9
    ops = [node.op_type for node in onnx.load(str(tmp_path / "elu.onnx")).graph.node]
    assert "Elu" in ops and "QuantizeLinear" in ops


def test_a_model_the_qdq_writer_cannot_write_comes_from_onnxruntimes_quantizer(tmp_path, monkeypatch):
    from compressor.compression import export

    def cannot(*args, **kwargs):
        raise UserError("int8 model cannot be written as QDQ ONNX: no rule for op 'x'")

    monkeypatch.setattr(export, "save_qdq_onnx", cannot)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3)).eval()
    images = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    result = export_int8(model, "onnx", tmp_path / "m.onnx", images)
    assert result.quantized_by.startswith("onnxruntime's static quantizer (int8 model cannot be written")
    assert result.top1_agreement >= 0.9


def test_int8_torchscript_matches_pytorch_int8(digits, tmp_path):
    loaded, images = digits
    result = export_int8(loaded.model, "torchscript", tmp_path / "int8.pt", images)
    assert result.max_abs_diff == 0.0 and result.top1_agreement == 1.0


def test_int8_pt2_agrees_with_pytorch_int8(digits, tmp_path):
    loaded, images = digits
    result = export_int8(loaded.model, "pt2", tmp_path / "int8.pt2", images)
    assert result.top1_agreement >= 0.95 and result.max_abs_diff < 0.2 and result.format == "pt2"


def test_calibration_images_are_the_first_training_images(digits):
    _, images = digits
    train = build_datasets(DatasetConfig(name="digits"), (1, 8, 8), 10, seed=0).train
    expected = torch.stack([train[index][0] for index in range(48)])
    assert torch.equal(images, expected)
    assert not torch.equal(images, torch.stack([train[index][0] for index in range(1, 49)]))


def test_unknown_format_and_calibration_size(digits, tmp_path):
    loaded, _ = digits
    with pytest.raises(UserError, match="unknown export format 'tflite'"):
        export_fp32(loaded.model, (1, 8, 8), "tflite", tmp_path / "x")
    with pytest.raises(UserError, match="calibration size"):
        calibration_images(loaded, DatasetConfig(name="digits"), 0)


def test_onnx_without_the_export_extra_says_how_to_install_it(digits, tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnxruntime" else real_find_spec(name, *args))
    loaded, _ = digits
    with pytest.raises(UserError, match=r"need onnxruntime: pip install 'compressor\[export\]'"):
        export_fp32(loaded.model, (1, 8, 8), "onnx", tmp_path / "model.onnx")
