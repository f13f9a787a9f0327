import pytest

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model
from compressor.compression.quantization.stats_format import check_stats_match_model, read_stats

SMALL = ["--calibration-size", "40", "--batch-size", "16"]


@pytest.fixture
def digits_ckpt(tmp_path):
    model = build_model("digits_cnn")
    path = tmp_path / "digits.pt"
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "dataset": "digits",
                     "model_state": model.state_dict()}, path)
    return path


def test_collect_stats_writes_a_readable_file(cli, digits_ckpt, tmp_path):
    target = tmp_path / "out" / "stats.yaml"
    result = cli("quantize", "--checkpoint", digits_ckpt, "--collect-stats", target, *SMALL, "--json")
    assert result.code == 0, result.err
    assert result.json() == {"stats": str(target), "modules": 15, "images": 40}
    stats = read_stats(target)
    assert stats["conv1"].inputs[0].shape == (40, 1, 8, 8) and stats["conv1"].output.shape == (40, 32, 8, 8)
    assert stats["fc2"].output.shape == (40, 10)
    assert stats["relu1"].output.min == 0.0 < stats["relu1"].output.max
    check_stats_match_model(stats, build_model("digits_cnn"))


def test_summary_on_stderr_and_whole_split_when_fewer_images(cli, digits_ckpt, tmp_path):
    target = tmp_path / "stats.yaml"
    result = cli("quantize", "--checkpoint", digits_ckpt, "--collect-stats", target,
                 "--calibration-size", "100000", "--batch-size", "512")
    assert result.code == 0, result.err
    assert result.out == ""
    assert "activation statistics" in result.err and "1,077" in result.err  # digits' training split
    assert read_stats(target)["fc2"].output.shape == (1077, 10)


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "missing.pt", "--collect-stats", "s.yaml"], "checkpoint not found"),
    (["--checkpoint", "CKPT"], "give --collect-stats FILE"),
    (["--checkpoint", "CKPT", "--collect-stats", "s.yaml", "--calibration-size", "0"], "calibration-size"),
    (["--checkpoint", "CKPT", "--collect-stats", "s.yaml", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["--collect-stats", "s.yaml"], "give exactly one of --checkpoint CKPT or --arch NAME"),
])
def test_user_mistakes_exit_2(cli, digits_ckpt, tmp_path, args, message):
    args = [str(digits_ckpt) if arg == "CKPT" else arg for arg in args]
    result = cli("quantize", *[tmp_path / arg if arg.endswith((".pt", ".yaml")) and arg != str(digits_ckpt)
                               else arg for arg in args])
    assert result.code == 2
    assert message in result.err
    assert not (tmp_path / "s.yaml").exists()


def test_help_shows_examples(cli):
    result = cli("quantize", "--help")
    assert result.code == 0
    assert "--collect-stats" in result.out and "Examples:" in result.out
