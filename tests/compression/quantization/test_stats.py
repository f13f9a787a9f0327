import math
import re

import pytest
import torch
from torch import nn

from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.quantization.stats import ModuleStats, TensorStats, collect_activation_stats
from compressor.compression.quantization.stats_format import check_stats_match_model, read_stats, write_stats

BATCHES = [torch.tensor([[1.0, -2.0], [3.0, 4.0]]), torch.tensor([[-1.0, 0.5]])]


def _stats(model, batches=BATCHES):
    return collect_activation_stats(model, batches, "cpu")


def test_identity_relu_chain_matches_hand_computed_values():
    stats = _stats(nn.Sequential(nn.Identity(), nn.ReLU()))
    assert list(stats) == ["0", "1"]
    seen = stats["0"].output  # values 1, -2, 3, 4 | -1, 0.5
    assert (seen.min, seen.max) == (-2.0, 4.0)
    assert seen.avg_min == pytest.approx(((-2 + 3) / 2 + -1) / 2)  # per-sample mins, averaged per batch
    assert seen.avg_max == pytest.approx(((1 + 4) / 2 + 0.5) / 2)
    assert seen.mean == pytest.approx(5.5 / 6)
    assert seen.std == pytest.approx(math.sqrt((31.25 - 5.5 ** 2 / 6) / 5))
    assert seen.std == pytest.approx(torch.cat(BATCHES).std().item())
    assert seen.b == pytest.approx((0.5 + 3.5 + 1.5 + 2.5 + 0.75 + 0.75) / 6)  # |x - batch mean|, by count
    assert seen.shape == (3, 2)
    assert stats["1"].inputs == {0: seen}
    relu = stats["1"].output  # values 1, 0, 3, 4 | 0, 0.5
    assert (relu.min, relu.max, relu.avg_min, relu.avg_max) == (0.0, 4.0, 0.75, 1.5)
    assert relu.mean == pytest.approx(8.5 / 6)
    assert relu.b == pytest.approx((1 + 2 + 1 + 2 + 0.25 + 0.25) / 6)


def test_one_value_per_sample_uses_the_batch_extremes_as_distiller():
    linear = nn.Linear(2, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 1.0]]))
        linear.bias.zero_()
    out = _stats(linear)[""].output  # outputs -1, 7 | -0.5
    assert (out.avg_min, out.avg_max) == (pytest.approx(-0.75), pytest.approx(3.25))
    assert out.shape == (3, 1)


def test_inplace_relu_reports_its_true_input_and_hooks_are_removed():
    model = nn.Sequential(nn.Identity(), nn.ReLU(inplace=True))
    stats = _stats(model, [batch.clone() for batch in BATCHES])
    assert stats["1"].inputs[0].min == -2.0 and stats["1"].output.min == 0.0
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_eval_mode_during_collection_and_mode_restored():
    model = nn.Sequential(nn.Identity(), nn.Dropout(0.9)).train()
    stats = _stats(model, [(torch.ones(4, 16), torch.zeros(4))])  # (inputs, targets) as loaders yield
    assert stats["1"].output == stats["0"].output  # dropout is the identity in eval mode
    assert model.training


def test_data_parallel_keeps_module_prefix():
    stats = _stats(nn.DataParallel(nn.Sequential(nn.Linear(2, 2), nn.ReLU())))
    assert list(stats) == ["module.0", "module.1"]


def _tensor(low, high, shape):
    return TensorStats(min=low, max=high, avg_min=low / 2, avg_max=high / 2, mean=0.25, std=1.0, b=0.75,
                       shape=shape)


SAMPLE = {"fc": ModuleStats(output=_tensor(-1.5, 2.0, (8, 4)), inputs={0: _tensor(-3.0, 3.0, (8, 6))}),
          "relu": ModuleStats(output=_tensor(0.0, 2.0, (8,)), inputs={0: _tensor(-1.5, 2.0, (8, 4))})}

EXPECTED_TEXT = """\
fc:
  inputs:
    0:
      min: -3.0
      max: 3.0
      avg_min: -1.5
      avg_max: 1.5
      mean: 0.25
      std: 1.0
      b: 0.75
      shape: (8, 6)
  output:
    min: -1.5
    max: 2.0
    avg_min: -0.75
    avg_max: 1.0
    mean: 0.25
    std: 1.0
    b: 0.75
    shape: (8, 4)
relu:
  inputs:
    0:
"""


def test_written_text_has_distillers_layout_and_round_trips(tmp_path):
    path = tmp_path / "stats.yaml"
    write_stats(SAMPLE, path)
    text = path.read_text()
    assert text.startswith(EXPECTED_TEXT)
    assert "    shape: (8)\n" in text  # Distiller's size_to_str for one dimension
    assert read_stats(path) == SAMPLE
    assert [p.name for p in tmp_path.iterdir()] == ["stats.yaml"]  # no temporary file left


def test_round_trip_of_collected_stats(tmp_path):
    stats = _stats(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Flatten()))
    write_stats(stats, tmp_path / "s.yaml")
    assert read_stats(tmp_path / "s.yaml") == stats


SPEC_EXAMPLE = """\
conv1:
  inputs:
    0: {min: -2.11, max: 2.64, avg_min: -2.01, avg_max: 2.48, mean: -0.026,
        std: 1.19, b: 1.00, shape: (256, 3, 224, 224)}
  output: {min: -37.1, max: 36.0, avg_min: -22.4, avg_max: 22.7, mean: -0.0001,
           std: 1.75, b: 1.07, shape: (256, 64, 112, 112)}
"""


def test_reads_distillers_own_file(tmp_path):
    path = tmp_path / "distiller.yaml"
    path.write_text(SPEC_EXAMPLE)
    conv1 = read_stats(path)["conv1"]
    assert conv1.inputs[0] == TensorStats(-2.11, 2.64, -2.01, 2.48, -0.026, 1.19, 1.0, (256, 3, 224, 224))
    assert conv1.output.min == -37.1 and conv1.output.shape == (256, 64, 112, 112)


@pytest.mark.parametrize("text, message", [
    ("- conv1\n- conv2\n", "not in Distiller's activation-stats format"),
    ("", "not in Distiller's activation-stats format"),
    ("conv1:\n  inputs: {}\n", "module 'conv1' has no 'output' stats"),
    (SPEC_EXAMPLE.replace("avg_max: 22.7, ", ""), "module 'conv1' output: missing 'avg_max'"),
    (SPEC_EXAMPLE.replace("std: 1.19", "std: wide"), "module 'conv1' inputs[0]: 'std' is not a number"),
    (SPEC_EXAMPLE.replace("(256, 64, 112, 112)", "big"), "'shape' must look like (256, 3, 224, 224)"),
    (SPEC_EXAMPLE.replace("(256, 3, 224, 224)", "!!python/tuple [256, 3, 224, 224]"), "carries Python objects"),
    ("conv1: [unclosed\n", "is not valid YAML"),
])
def test_bad_files_are_user_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=re.escape(message)):
        read_stats(path)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="stats file not found"):
        read_stats(tmp_path / "none.yaml")


def test_stats_match_their_model_and_not_another():
    model = build_model("digits_cnn")
    stats = _stats(model, [torch.randn(2, 1, 8, 8)])
    check_stats_match_model(stats, model)
    other = {"conv1": stats["conv1"], "layer1.0.conv1": stats["conv1"]}
    with pytest.raises(UserError, match=r"lacks \(layer1.0.conv1\); the file may belong to another model "
                                        r"\(this model's layers: conv1, conv2, conv3, fc1, fc2\)"):
        check_stats_match_model(other, model)
    partial = {name: value for name, value in stats.items() if name not in ("conv2", "fc2")}
    with pytest.raises(UserError, match="lack layer.* of the model: conv2, fc2"):
        check_stats_match_model(partial, model)


def test_stats_of_the_model_before_it_was_thinned_are_refused():
    """Ranges recorded on 32 filters say nothing sure of the 16 a thinning kept."""
    from compressor.compression.thinning import zero_weakest_filter_groups
    from compressor.compression.thinning.remove import thin

    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    stats = _stats(model, [torch.randn(4, 1, 8, 8)])
    zero_weakest_filter_groups(model, torch.zeros(1, 1, 8, 8), 0.5)
    thin(model, torch.zeros(1, 1, 8, 8))
    assert model.conv1.out_channels < 32
    with pytest.raises(UserError, match=r"other layer sizes \(conv1 \(32 outputs recorded, 16 now\), conv2 "):
        check_stats_match_model(stats, model)
