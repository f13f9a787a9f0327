import pytest
import torch

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model


@pytest.fixture
def digits_ckpt(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "digits.pt"
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "model_state": build_model("digits_cnn").state_dict()},
                    path)
    return path


def test_fp32_onnx_json(cli, digits_ckpt, tmp_path):
    out = tmp_path / "digits.onnx"
    result = cli("export", "--checkpoint", digits_ckpt, "--format", "onnx", "--out", out, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["out"] == str(out) and data["format"] == "onnx" and data["int8"] is False
    assert data["max_abs_diff"] < 1e-4 and data["file_bytes"] == out.stat().st_size
    assert "top1_agreement" not in data


def test_int8_torchscript_json(cli, digits_ckpt, tmp_path):
    out = tmp_path / "digits_int8.pt"
    result = cli("export", "--checkpoint", digits_ckpt, "--format", "torchscript", "--out", out, "--int8",
                 "--calibration-size", "32", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["int8"] is True and data["top1_agreement"] == 1.0 and out.is_file()


def test_table_on_stderr(cli, tmp_path):
    result = cli("export", "--arch", "digits_cnn", "--format", "torchscript", "--out", tmp_path / "m.pt")
    assert result.code == 0, result.err
    assert result.out == "" and "max_abs_diff" in result.err


@pytest.mark.parametrize("args, expected", [
    (["--format", "tflite"], "'tflite' is not one of"),
    (["--checkpoint", "missing.pt", "--format", "onnx"], "checkpoint not found"),
    (["--arch", "digits_cnn", "--format", "onnx", "--int8", "--calibration-size", "0"], "--calibration-size"),
    (["--arch", "digits_cnn", "--format", "onnx", "--int8", "--dataset", "digitz"], "did you mean 'digits'"),
])
def test_bad_input_exits_2(cli, tmp_path, args, expected):
    if "--arch" not in args and "--checkpoint" not in args:
        args = ["--arch", "digits_cnn", *args]
    result = cli("export", *args, "--out", tmp_path / "x.onnx")
    assert result.code == 2
    assert expected in result.err


def test_exported_is_the_torch_export_format(cli, digits_ckpt, tmp_path):
    out = tmp_path / "digits.pt2"
    result = cli("export", "--checkpoint", digits_ckpt, "--format", "exported", "--out", out, "--json")
    assert result.code == 0, result.err
    assert result.json()["format"] == "pt2"
    program = torch.export.load(str(out)).module()
    assert program(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
