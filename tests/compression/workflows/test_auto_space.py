"""The search space: filter groups thinning removes and a Distiller schedule reproduces."""
import pytest
import torch

from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.workflows.auto_space import search_space
from helpers import mixed_groups_net

EXAMPLE = torch.zeros(1, 1, 8, 8)


def test_digits_cnn_searches_its_convolutions_and_its_hidden_linear_layer_but_not_its_output():
    space = search_space(build_model("digits_cnn", num_classes=10), torch.zeros(1, 1, 8, 8))
    assert [(g.layers, g.channels, g.structure) for g in space.groups] == [
        (("conv1",), 32, "Filters"), (("conv2",), 64, "Filters"), (("conv3",), 128, "Filters"), (("fc1",), 128, "Rows")]
    assert list(space.left_out) == ["fc2"] and "outputs" in space.left_out["fc2"]


def test_a_biased_conv_an_expansion_conv_with_its_depthwise_conv_and_a_linear_with_batchnorm1d_are_searched():
    space = search_space(mixed_groups_net(), EXAMPLE)
    assert [(g.layers, g.passes, g.structure, g.prune_bias) for g in space.groups] == [
        (("conv",), (), "Filters", True), (("expand",), ("dw",), "Filters", False),
        (("project",), (), "Filters", False), (("fc1",), (), "Rows", False)]
    assert list(space.left_out) == ["fc2"]


def test_holding_out_a_depthwise_conv_holds_out_the_group_it_passes_on():
    space = search_space(mixed_groups_net(), EXAMPLE, ["dw"])
    assert "expand" not in [g.leader for g in space.groups]
    assert space.left_out["expand"] == "held out (dw matches --hold-out)"


def test_a_batchnorm_that_reads_a_residual_sum_leaves_its_group_out_and_is_named():
    space = search_space(build_model("preact_resnet20_cifar", num_classes=10), torch.zeros(1, 3, 32, 32))
    assert "BatchNorm 'final_bn' reads these channels but is no single layer's own" in space.left_out["conv1"]


def test_residual_partners_form_one_group_led_by_the_first_in_the_model():
    space = search_space(build_model("resnet20_cifar", num_classes=10), torch.zeros(1, 3, 32, 32))
    stage1 = next(g for g in space.groups if "layer1.0.conv2" in g.layers)
    assert stage1.layers == ("conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2")
    assert stage1.leader == "conv1" and stage1.channels == 16
    assert len(space.groups) == 3 + 9  # three residual stages and every block's inner conv


def test_hold_out_patterns_match_whole_names():
    model, example = build_model("digits_cnn", num_classes=10), torch.zeros(1, 1, 8, 8)
    space = search_space(model, example, ["conv[12]"])
    assert [g.leader for g in space.groups] == ["conv3", "fc1"]
    assert "held out" in space.left_out["conv1"] and "held out" in space.left_out["conv2"]


@pytest.mark.parametrize("pattern, message", [("conv", "matches no Conv/Linear layer"), ("conv9", "matches no"),
                                              ("conv(", "not a regular expression")])
def test_hold_out_pattern_that_matches_nothing_is_an_error(pattern, message):
    with pytest.raises(UserError, match=message):
        search_space(build_model("digits_cnn", num_classes=10), torch.zeros(1, 1, 8, 8), [pattern])
