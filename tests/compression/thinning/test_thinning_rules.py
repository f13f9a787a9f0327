"""What thinning removes, what it keeps and why, and the mistakes it refuses."""
import copy

import pytest
import torch
from torch import nn

from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.thinning import (ThinningPlan, apply_plan, find_zero_structures, recorded_plan,
                                              remove_structures)

EXAMPLE = torch.zeros(1, 3, 32, 32)


@pytest.fixture
def resnet20(batchnorm_statistics):
    torch.manual_seed(0)
    model = build_model("resnet20_cifar").eval()
    batchnorm_statistics(model)
    return model


def zero_filters(conv, batchnorm, idxs):
    with torch.no_grad():
        conv.weight[idxs] = 0
        if batchnorm is not None:
            batchnorm.weight[idxs] = 0
            batchnorm.bias[idxs] = 0


def outputs(model, x):
    with torch.no_grad():
        return model(x)


def test_find_zero_structures_reports_filters_and_channels(resnet20):
    block = resnet20.layer1[0]
    with torch.no_grad():
        block.conv1.weight[[1, 4]] = 0
        block.conv2.weight[:, 3] = 0
        resnet20.fc.weight[:, 7] = 0
    assert find_zero_structures(resnet20, "filters") == {"layer1.0.conv1": [1, 4]}
    assert find_zero_structures(resnet20, "channels") == {"layer1.0.conv2": [3], "fc": [7]}
    with pytest.raises(UserError, match="filters, channels"):
        find_zero_structures(resnet20, "rows")


def test_zero_filter_whose_batchnorm_shifts_it_is_kept_then_removed_once_silenced(resnet20):
    block = resnet20.layer1[0]
    x = torch.randn(2, 3, 32, 32)
    zero_filters(block.conv1, None, [0, 1])
    expected = outputs(resnet20, x)
    plan = remove_structures(resnet20, EXAMPLE)
    assert block.conv1.out_channels == 16 and plan.ops == []
    assert any("layer1.0.conv1: 2 zero filters kept" in note and "BatchNorm" in note for note in plan.notes)
    assert torch.equal(outputs(resnet20, x), expected)

    zero_filters(block.conv1, block.bn1, [0, 1])
    expected = outputs(resnet20, x)
    plan = remove_structures(resnet20, EXAMPLE)
    assert plan.ops == [{"layer": "layer1.0.conv1", "op": "out", "idxs": [0, 1]}]
    assert (block.conv1.out_channels, block.bn1.num_features, block.conv2.in_channels) == (14, 14, 14)
    assert plan.removed == {"layer1.0.conv1": {"out": 2, "in": 0}, "layer1.0.conv2": {"out": 0, "in": 2}}
    assert torch.allclose(outputs(resnet20, x), expected, atol=1e-5)


def test_batchnorm_with_zero_shift_and_zero_mean_lets_the_filter_go(resnet20):
    block = resnet20.layer1[0]
    with torch.no_grad():
        block.conv1.weight[2] = 0
        block.bn1.bias[2] = 0
        block.bn1.running_mean[2] = 0
    x = torch.randn(2, 3, 32, 32)
    expected = outputs(resnet20, x)
    remove_structures(resnet20, EXAMPLE)
    assert block.conv1.out_channels == 15
    assert torch.allclose(outputs(resnet20, x), expected, atol=1e-5)


def test_outputs_also_equal_in_training_mode(masked_model):
    masked, _ = masked_model("resnet20_cifar", 32)
    thinned = copy.deepcopy(masked)
    remove_structures(thinned, EXAMPLE)
    x = torch.randn(4, 3, 32, 32)
    masked.train(), thinned.train()
    assert torch.allclose(outputs(thinned, x), outputs(masked, x), atol=1e-4)


def test_a_layer_whose_filters_are_all_zero_keeps_one(resnet20):
    block = resnet20.layer1[0]
    zero_filters(block.conv1, block.bn1, list(range(16)))
    x = torch.randn(2, 3, 32, 32)
    expected = outputs(resnet20, x)
    plan = remove_structures(resnet20, EXAMPLE)
    assert block.conv1.out_channels == 1 and block.conv2.in_channels == 1
    assert any("kept so that every layer keeps at least one channel" in note for note in plan.notes)
    assert torch.allclose(outputs(resnet20, x), expected, atol=1e-5)


def test_residual_partners_are_removed_together(resnet20):
    # channel 5 of the first residual stream: the stem and every layer1 block's second conv
    convs = [(resnet20.conv1, resnet20.bn1)] + [(b.conv2, b.bn2) for b in resnet20.layer1]
    for conv, batchnorm in convs:
        zero_filters(conv, batchnorm, [5])
    x = torch.randn(2, 3, 32, 32)
    expected = outputs(resnet20, x)
    plan = remove_structures(resnet20, EXAMPLE)
    assert len(plan.ops) == 1 and plan.ops[0]["idxs"] == [5]
    assert all(conv.out_channels == 15 for conv, _ in convs)
    assert resnet20.layer2[0].conv1.in_channels == 15
    assert torch.allclose(outputs(resnet20, x), expected, atol=1e-5)


def test_one_residual_partner_alone_is_not_removed(resnet20):
    block = resnet20.layer1[0]
    zero_filters(block.conv2, block.bn2, [5])
    plan = remove_structures(resnet20, EXAMPLE)
    assert block.conv2.out_channels == 16 and plan.ops == []
    assert plan.notes[0].startswith("layer1.0.conv2: 1 zero filters kept: 'conv1', 'layer1.1.conv2' and "
                                    "'layer1.2.conv2' add non-zero values to these channels")
    assert plan.notes[0].endswith("zero the same filters in all of them (one pruner with `group_dependency: Leader` "
                                  "over the weights of 'layer1.0.conv2', 'conv1', 'layer1.1.conv2' and "
                                  "'layer1.2.conv2')")


def test_channels_read_by_nobody_are_removed_with_their_filters(resnet20):
    block = resnet20.layer1[0]
    with torch.no_grad():
        block.conv2.weight[:, [0, 3, 9]] = 0  # conv1's filters 0, 3, 9 are read by conv2 only
        block.conv1.weight[:, 2] = 0  # the residual stream's channel 2 is read by others too
        resnet20.conv1.weight[:, 1] = 0  # an input image channel
    x = torch.randn(2, 3, 32, 32)
    expected = outputs(resnet20, x)
    plan = remove_structures(resnet20, EXAMPLE, kind="channels")
    assert (block.conv1.out_channels, block.bn1.num_features, block.conv2.in_channels) == (13, 13, 13)
    assert block.conv1.in_channels == 16 and resnet20.conv1.in_channels == 3
    assert {"layer": "conv1", "reason": "its channels come from the model's input"} in plan.skipped
    assert torch.allclose(outputs(resnet20, x), expected, atol=1e-5)


def test_linear_rows_and_flatten_columns(masked_model):
    model = build_model("simplenet_mnist").eval()
    with torch.no_grad():
        model.conv2.weight[[3, 7]] = 0
        model.conv2.bias[[3, 7]] = 0
        model.fc1.weight[[10, 20, 30]] = 0
        model.fc1.bias[[10, 20, 30]] = 0
    x = torch.randn(2, 1, 28, 28)
    expected = outputs(model, x)
    remove_structures(model, torch.zeros(1, 1, 28, 28))
    assert model.conv2.out_channels == 48 and model.fc1.in_features == 48 * 16
    assert model.fc1.out_features == 497 and model.fc2.in_features == 497
    assert torch.allclose(outputs(model, x), expected, atol=1e-5)


def test_asking_to_thin_the_classifier_is_refused_and_changes_nothing(resnet20):
    with torch.no_grad():
        resnet20.fc.weight[[0, 1]] = 0
        resnet20.fc.bias[[0, 1]] = 0
    zero_filters(resnet20.layer1[0].conv1, resnet20.layer1[0].bn1, [0])
    before = copy.deepcopy(resnet20.state_dict())
    with pytest.raises(UserError, match=r"cannot thin layer 'fc': its outputs are the model's outputs"):
        remove_structures(resnet20, EXAMPLE, layers=["layer1.0.conv1", "fc"])
    after = resnet20.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert recorded_plan(resnet20) == []

    plan = remove_structures(resnet20, EXAMPLE)
    assert resnet20.fc.out_features == 10
    assert {"layer": "fc", "reason": "its outputs are the model's outputs (the class count must stay)"} in plan.skipped


def test_asking_for_a_layer_that_does_not_exist_suggests_one(resnet20):
    with pytest.raises(UserError, match=r"unknown layer 'layer1.0.conv'; did you mean .*'layer1.0.conv1'"):
        remove_structures(resnet20, EXAMPLE, layers=["layer1.0.conv"])
    with pytest.raises(UserError, match="BatchNorm2d, not a Conv or Linear"):
        remove_structures(resnet20, EXAMPLE, layers=["layer1.0.bn1"])


def test_requested_layer_thins_only_that_layer(resnet20):
    for block in resnet20.layer1:
        zero_filters(block.conv1, block.bn1, [0, 1])
    remove_structures(resnet20, EXAMPLE, layers=["layer1.1.conv1"])
    assert [block.conv1.out_channels for block in resnet20.layer1] == [16, 14, 16]


class GroupedAndConcat(nn.Module):
    """A grouped conv behind one branch; a concatenation of two branches behind the other."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.left = nn.Conv2d(8, 6, 1)
        self.right = nn.Conv2d(8, 4, 1)
        self.mix = nn.Conv2d(10, 4, 1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu(self.grouped(torch.relu(self.stem(x))))
        x = torch.cat([torch.relu(self.left(x)), torch.relu(self.right(x))], dim=1)
        return self.fc(self.mix(x).mean(dim=(2, 3)))


def test_grouped_conv_is_skipped_and_concatenated_channels_are_removed():
    torch.manual_seed(0)
    model = GroupedAndConcat().eval()
    with torch.no_grad():
        for conv, idxs in ((model.stem, [1]), (model.left, [2, 5]), (model.right, [0])):
            conv.weight[idxs] = 0
            conv.bias[idxs] = 0
    x = torch.randn(2, 3, 16, 16)
    expected = outputs(model, x)
    plan = remove_structures(model, torch.zeros(1, 3, 16, 16))
    assert model.stem.out_channels == 8
    assert plan.skipped[0]["layer"] == "stem" and "grouped convolution 'grouped'" in plan.skipped[0]["reason"]
    assert (model.left.out_channels, model.right.out_channels, model.mix.in_channels) == (4, 3, 7)
    assert torch.allclose(outputs(model, x), expected, atol=1e-5)
    with pytest.raises(UserError, match="cannot thin layer 'stem': grouped convolution"):
        remove_structures(model, torch.zeros(1, 3, 16, 16), layers=["stem"])


def test_plan_round_trips_as_plain_data_and_malformed_plans_are_refused():
    plan = ThinningPlan(ops=[{"layer": "conv1", "op": "out", "idxs": [1, 2]}])
    assert ThinningPlan.from_list(plan.to_list()).ops == plan.ops
    with pytest.raises(UserError, match="operation 0 is malformed"):
        ThinningPlan.from_list([{"layer": "conv1", "op": "sideways", "idxs": [1]}])


def test_several_passes_replay_on_a_fresh_model(masked_model):
    model, example = masked_model("resnet20_cifar", 32, fraction=0.25)
    remove_structures(model, example)
    with torch.no_grad():
        for block in model.layer2:
            zero_filters(block.conv1, block.bn1, [0, 3])
    remove_structures(model, example)
    ops = recorded_plan(model)
    assert {op["pass"] for op in ops} == {0, 1}

    fresh = build_model("resnet20_cifar")
    apply_plan(fresh, ops, example)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in fresh.state_dict().items()} == shapes
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(outputs(fresh.eval(), x), outputs(model, x))
    assert recorded_plan(fresh) == ops


def test_a_plan_that_does_not_fit_the_model_is_a_user_error():
    with pytest.raises(UserError, match="no Conv or Linear layer by that name"):
        apply_plan(build_model("resnet20_cifar"), [{"layer": "nope", "op": "out", "idxs": [0]}], EXAMPLE)
    with pytest.raises(UserError, match="does not fit the model"):
        apply_plan(build_model("resnet20_cifar"), [{"layer": "layer1.0.conv1", "op": "out", "idxs": [99]}],
                   EXAMPLE)


class ShufflesChannels(nn.Module):
    """A channel shuffle (view/transpose/reshape), which Torch-Pruning does not map exactly."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = self.conv(x)
        b, c, h, w = x.shape
        x = x.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)
        return self.fc(x.mean(dim=(2, 3)))


def test_a_removal_that_would_break_the_model_is_undone_and_skipped_or_refused():
    model = ShufflesChannels().eval()
    with torch.no_grad():
        model.conv.weight[0] = 0
        model.conv.bias[0] = 0
    example = torch.zeros(1, 3, 8, 8)
    plan = remove_structures(model, example)
    assert model.conv.out_channels == 8 and model.conv.weight.shape[0] == 8 and plan.ops == []
    assert plan.skipped[0]["layer"] == "conv" and "no longer runs" in plan.skipped[0]["reason"]
    assert recorded_plan(model) == [] and model(example).shape == (1, 2)
    with pytest.raises(UserError, match="cannot thin layer 'conv': the thinned model no longer runs"):
        remove_structures(model, example, layers=["conv"])


def test_a_model_that_cannot_be_traced_is_left_alone_or_refused_when_a_layer_is_named(resnet20):
    wrong_input = torch.zeros(1, 5, 32, 32)
    plan = remove_structures(resnet20, wrong_input)
    assert plan.ops == [] and "cannot trace the model" in plan.skipped[0]["reason"]
    with pytest.raises(UserError, match="cannot trace the model"):
        remove_structures(resnet20, wrong_input, layers=["conv1"])


def test_zero_filter_whose_own_bias_is_not_zero_is_kept_with_the_flag_that_zeroes_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)).eval()
    with torch.no_grad():
        model[0].weight[:2] = 0
    plan = remove_structures(model, torch.zeros(1, 1, 6, 6))
    assert model[0].out_channels == 4
    assert plan.notes == ["0: 2 zero filters kept: their bias entries are not zero, so they still output a constant "
                          "that the next layers read (prune them with `prune_bias: true` on the pruner to zero the "
                          "bias too)"]
    with torch.no_grad():
        model[0].bias[:2] = 0
    remove_structures(model, torch.zeros(1, 1, 6, 6))
    assert model[0].out_channels == 2
