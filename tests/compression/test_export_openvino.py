"""`export --format openvino`: OpenVINO IR (.xml + .bin) that OpenVINO loads, FP32 or int8."""
import openvino
import pytest
import torch

from compressor.compression.core.errors import UserError
from compressor.compression.export import calibration_images, export, export_fp32, export_int8
from compressor.compression.model_source import load_model
from compressor.compression.quantization.int8_backend import convert_to_int8
from compressor.datasets import DatasetConfig


@pytest.fixture(scope="module")
def digits():
    loaded = load_model(arch="digits_cnn")
    return loaded, calibration_images(loaded, DatasetConfig(name="digits"), 48)


def run_ir(path, images):
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return torch.from_numpy(compiled(images.numpy())[0])


def test_fp32_ir_in_a_folder_matches_pytorch(digits, tmp_path):
    loaded, images = digits
    result = export_fp32(loaded.model, (1, 8, 8), "openvino", tmp_path / "ir")
    xml = tmp_path / "ir" / "model.xml"
    assert result.out == str(xml) and xml.with_suffix(".bin").is_file()
    assert result.file_bytes == xml.stat().st_size + xml.with_suffix(".bin").stat().st_size
    with torch.no_grad():
        expected = loaded.model(images)
    assert (run_ir(xml, images) - expected).abs().max() < 1e-4 and result.max_abs_diff < 1e-4


def test_int8_ir_is_the_pytorch_int8_model(digits, tmp_path):
    loaded, images = digits
    result = export_int8(loaded.model, "openvino", tmp_path / "int8.xml", images)
    assert result.int8 and result.top1_agreement >= 0.95 and result.quantized_by.startswith("the PyTorch int8")
    assert (tmp_path / "int8.bin").stat().st_size < 0.5 * 4 * sum(p.numel() for p in loaded.model.parameters())


def test_a_given_int8_model_is_written_with_its_own_scales(digits, tmp_path):
    loaded, images = digits
    int8 = convert_to_int8(loaded.model, (images[:1],), [images], activation_ranges={"relu1": (0.0, 2.0)})
    result = export(int8, tmp_path / "given.xml", "openvino", calibration=images)
    assert result.max_abs_diff < 0.1 and result.top1_agreement >= 0.95


def test_openvino_not_installed_says_how_to_install_it(digits, tmp_path, monkeypatch):
    from compressor.compression.engines.registry import ENGINES

    monkeypatch.setattr(ENGINES["openvino"], "is_installed", lambda: False)
    with pytest.raises(UserError, match="^openvino is not installed: pip install openvino$"):
        export_fp32(digits[0].model, (1, 8, 8), "openvino", tmp_path / "ir")
