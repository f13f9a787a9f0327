"""The greedy rounds, with a judge whose scores the test sets."""
import torch

from compressor.compression.models import build_model
from compressor.compression.workflows.auto_cost import CostMeter
from compressor.compression.workflows.auto_greedy import Judge, greedy_search
from compressor.compression.workflows.auto_space import search_space

EXAMPLE = torch.zeros(1, 1, 8, 8)


def _setup():
    torch.manual_seed(0)
    model = build_model("digits_cnn", num_classes=10).eval()
    return model, list(search_space(model, EXAMPLE).groups)


def test_rounds_reach_the_macs_target_preferring_the_layer_that_costs_no_accuracy():
    model, groups = _setup()
    meter = CostMeter("macs", model, (1, 8, 8), torch.device("cpu"))
    score = lambda m: 90.0 - (32 - m.conv1.out_channels) - (128 - m.conv3.out_channels)  # conv2 costs nothing
    result = greedy_search(model, groups, EXAMPLE, Judge(lambda m: None, score, meter.ratio), 0.7, 0.25)
    assert result.target_reached and result.last.ratio <= 0.7
    assert [r.layer for r in result.rounds[1:]][:2] == ["conv2", "conv2"]
    assert all(r.candidates == 3 for r in result.rounds[1:3])
    assert model.conv2.out_channels == 64  # the model given is left as it was
    assert result.chosen(tolerance=0.0) is result.last


def test_an_unreachable_target_keeps_the_most_compressed_round_within_tolerance():
    model, groups = _setup()
    meter = CostMeter("params", model, (1, 8, 8), torch.device("cpu"))
    score = lambda m: 90.0 - 0.1 * (128 - m.conv3.out_channels)  # conv3 alone: at most 0.2 of params go
    result = greedy_search(model, groups[2:], EXAMPLE, Judge(lambda m: None, score, meter.ratio), 0.05, 0.5)
    assert not result.target_reached and result.stopped_because == "no filter group can shrink any further"
    assert [r.channels["conv3"] for r in result.rounds] == [128, 64, 1]
    assert result.chosen(tolerance=7.0).number == 1 and result.chosen(tolerance=100.0).number == 2
