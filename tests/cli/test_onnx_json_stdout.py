"""An int8 ONNX export that torch cannot do leaves `--json` stdout clean: the exporter's graph dump,
written from C++ to file descriptor 1, is not mixed into it."""
import json

import pytest

import compressor
from compressor.cli.main import run

POOL_NET = """from torch import nn


class Net(nn.Module):
    input_shape = (1, 14, 14)
    num_classes = 10
    default_dataset = "fake"

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)  # 14 is no multiple of 4: torch.onnx has no export rule for it
        self.fc = nn.Linear(4 * 4 * 4, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x).relu()).flatten(1))
"""


@pytest.fixture
def pool_checkpoint(tmp_path, monkeypatch):
    (tmp_path / "onnx_unfriendly_net.py").write_text(POOL_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    from onnx_unfriendly_net import Net

    return compressor.save_checkpoint(Net(), tmp_path / "pool.pt", arch="onnx_unfriendly_net:Net")


def invoke(capfd, *args):
    """Exit status, and stdout and stderr as the process wrote them (file descriptors, not sys.stdout)."""
    code = run([str(arg) for arg in args] + ["--threads", "1"])
    out, err = capfd.readouterr()
    return code, out, err


def test_quantize_onnx_json_stays_json_when_the_int8_export_fails(capfd, pool_checkpoint, tmp_path):
    stats = tmp_path / "stats.yaml"
    assert invoke(capfd, "quantize", "--checkpoint", pool_checkpoint, "--collect-stats", stats)[0] == 0
    code, out, err = invoke(capfd, "quantize", "--checkpoint", pool_checkpoint, "--stats", stats, "--onnx",
                            "--out", tmp_path / "q", "--json")
    assert code == 0, err
    assert "graph(" not in out
    assert json.loads(out)["int8_onnx"].startswith("not written: int8 model cannot be written as QDQ ONNX")


def test_export_int8_onnx_json_prints_no_graph_dump(capfd, pool_checkpoint, tmp_path):
    code, out, err = invoke(capfd, "export", "--checkpoint", pool_checkpoint, "--format", "onnx", "--int8",
                            "--out", tmp_path / "m.onnx", "--json")
    assert code == 2 and "adaptive_avg_pool2d" in err  # the static quantizer's FP32 export fails too
    assert out == ""


def test_a_model_with_no_onnx_form_is_a_clear_refusal_not_a_failure(capfd, pool_checkpoint, tmp_path):
    code, out, err = invoke(capfd, "export", "--checkpoint", pool_checkpoint, "--format", "onnx",
                            "--out", tmp_path / "m.onnx")
    assert code == 2 and "error: the model cannot be written as ONNX: " in err and "adaptive_avg_pool2d" in err
    assert not (tmp_path / "m.onnx").exists()
