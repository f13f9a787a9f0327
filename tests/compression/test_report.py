import pytest
import torch

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.models import build_model
from compressor.compression.report import LATENCY_KEYS, compression_report, state_dict_bytes
from compressor.compression.summary import summarize

SHAPE = (1, 8, 8)


def _half_pruned(model):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight[: module.out_channels // 2].zero_()
    return model


@pytest.fixture
def pruned(tmp_path):
    model = _half_pruned(build_model("digits_cnn"))
    path = tmp_path / "best.pt"
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "model_state": model.state_dict()}, path)
    return model, path


def test_report_on_a_model_with_half_its_conv_filters_zeroed(pruned):
    model, path = pruned
    dense = build_model("digits_cnn")
    report = compression_report(dense, model, SHAPE, path, dense_top1=97.5, top1=97.0,
                                batch_size=2, repeats=3, warmup=1)
    conv_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert report["params"] == report["dense_params"] == sum(p.numel() for p in dense.parameters())
    assert report["dense_nnz"] == report["dense_params"]
    assert report["nnz"] == summarize(model, SHAPE).nnz
    assert report["dense_nnz"] - report["nnz"] >= conv_weights / 2
    assert report["macs"] == report["dense_macs"] and report["effective_macs"] < report["macs"]
    assert report["effective_macs"] == summarize(model, SHAPE).effective_macs
    assert report["sparsity"] == pytest.approx(summarize(model, SHAPE).sparsity)
    assert report["dense_file_bytes"] > 0 and report["file_bytes"] > 0
    assert report["checkpoint_bytes"] == path.stat().st_size
    assert report["dense_top1"] == 97.5 and report["top1"] == 97.0
    assert report["dense_latency_ms"] > 0 and report["latency_ms"] > 0
    assert report["speedup"] == pytest.approx(report["dense_latency_ms"] / report["latency_ms"])
    assert report["latency_batch_size"] == 2


def test_a_smaller_model_has_a_smaller_file_and_fewer_parameters():
    small = build_model("digits_cnn", num_classes=10)
    report = compression_report(build_model("digits_cnn", num_classes=1000), small, SHAPE, measure_speed=False)
    assert report["params"] < report["dense_params"] and report["file_bytes"] < report["dense_file_bytes"]
    assert report["checkpoint_bytes"] is None
    assert report["file_bytes"] == state_dict_bytes(small)


def test_without_speed_measurement_the_latency_keys_are_none(pruned):
    model, path = pruned
    report = compression_report(build_model("digits_cnn"), model, SHAPE, path, None, 90.0, measure_speed=False)
    assert all(report[key] is None for key in LATENCY_KEYS)
    assert report["dense_top1"] is None and report["top1"] == 90.0
