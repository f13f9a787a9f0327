import pytest
import torch

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model

FAST = ["--batch-size", "2", "--repeats", "3", "--warmup", "1"]


@pytest.fixture
def digits_ckpt(tmp_path):
    model = build_model("digits_cnn")
    with torch.no_grad():
        model.conv2.weight.zero_()
    path = tmp_path / "digits.pt"
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "model_state": model.state_dict()}, path)
    return path


def test_checkpoint_against_its_dense_arch_json(cli, digits_ckpt):
    result = cli("benchmark", "--checkpoint", digits_ckpt, *FAST, "--threads", "1", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["candidate"]["name"] == str(digits_ckpt) and data["candidate"]["arch"] == "digits_cnn"
    assert data["baseline"]["name"] == "digits_cnn (dense)"
    for side in ("candidate", "baseline"):
        stats = data[side]
        assert stats["repeats"] == 3 and stats["batch_size"] == 2
        assert 0 < stats["p10_ms"] <= stats["median_ms"] <= stats["p90_ms"]
        assert stats["throughput"] == pytest.approx(2000 / stats["median_ms"])
    assert data["speedup"] == pytest.approx(data["baseline"]["median_ms"] / data["candidate"]["median_ms"])
    assert data["batch_size"] == 2 and data["input_shape"] == [1, 8, 8] and data["threads"] == 1


def test_table_and_speedup_on_stderr(cli, digits_ckpt):
    result = cli("benchmark", "--checkpoint", digits_ckpt, "--compare", digits_ckpt, *FAST)
    assert result.code == 0, result.err
    assert result.out == ""
    assert "median ms" in result.err and "images/s" in result.err and "speedup:" in result.err


def test_arch_against_another_arch(cli):
    result = cli("benchmark", "--arch", "resnet20_cifar", "--compare-arch", "resnet32_cifar", *FAST, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["candidate"]["name"] == "resnet20_cifar" and data["baseline"]["name"] == "resnet32_cifar"
    assert data["input_shape"] == [3, 32, 32]


@pytest.mark.parametrize("args, expected", [
    (["--arch", "digits_cnn", "--compare", "x.pt", "--compare-arch", "digits_cnn"], "at most one of"),
    (["--checkpoint", "missing.pt"], "checkpoint not found"),
    (["--arch", "digits_cnn", "--compare", "missing.pt"], "checkpoint not found"),
    (["--arch", "resnt18"], "did you mean 'resnet18'"),
    (["--arch", "digits_cnn", "--compare-arch", "resnet20_cifar"], "input shapes differ"),
    (["--arch", "digits_cnn", "--batch-size", "0"], "--batch-size"),
    (["--arch", "digits_cnn", "--repeats", "0"], "--repeats"),
    (["--arch", "digits_cnn", "--device", "gpu"], "--device 'gpu'"),
    ([], "give exactly one of"),
])
def test_bad_input_exits_2_without_traceback(cli, tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    result = cli("benchmark", *args)
    assert result.code == 2, result.err
    assert expected in result.err
    assert "Traceback" not in result.err and result.out == ""


def test_a_speedup_is_shown_with_its_interval_and_never_as_a_gain_when_it_holds_one():
    from compressor.cli.common import speedup_text

    gain = {"speedup": 1.52, "speedup_low": 1.40, "speedup_high": 1.61, "speedup_measurable": True}
    assert speedup_text(gain) == "1.52x (1.40x to 1.61x)"
    noise = {"speedup": 1.32, "speedup_low": 0.95, "speedup_high": 1.40, "speedup_measurable": False}
    assert speedup_text(noise) == "no measurable difference (0.95x to 1.40x)"
