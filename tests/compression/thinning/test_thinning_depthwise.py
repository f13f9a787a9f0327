"""Depthwise chains (expand -> BN -> ReLU6 -> depthwise -> BN -> ReLU6 -> project) pruned layer by layer."""
import copy

import torch
from torch import nn

from compressor.compression.thinning import remove_structures
from helpers import give_batchnorms_statistics

EXAMPLE = torch.zeros(1, 1, 8, 8)


class InvertedResidual(nn.Module):
    """A MobileNetV2 block on digits-sized input; `side` (optional) also reads the expanded channels."""

    def __init__(self, side=False):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(4)
        self.expand = nn.Conv2d(4, 12, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(12)
        self.dw = nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False)
        self.bn2 = nn.BatchNorm2d(12)
        self.project = nn.Conv2d(12, 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4)
        self.side = nn.Conv2d(12, 4, 1) if side else None
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu(self.bn0(self.stem(x)))
        expanded = nn.functional.relu6(self.bn1(self.expand(x)))
        y = x + self.bn3(self.project(nn.functional.relu6(self.bn2(self.dw(expanded)))))
        if self.side is not None:
            y = y + self.side(expanded)
        return self.fc(y.mean(dim=(2, 3)))


def zeroed(model, pairs):
    with torch.no_grad():
        for conv, batchnorm, idxs in pairs:
            conv.weight[idxs] = 0
            if batchnorm is not None:
                batchnorm.weight[idxs] = 0
                batchnorm.bias[idxs] = 0
    return model


def outputs(model, x, training=False):
    """Training mode runs on a copy: its forward pass moves the running statistics."""
    model = copy.deepcopy(model).train(training)
    with torch.no_grad():
        return model(x)


def test_filters_silenced_by_the_depthwise_batchnorm_go_with_the_expansion_filters_that_feed_them():
    torch.manual_seed(0)
    model = give_batchnorms_statistics(InvertedResidual())
    zeroed(model, [(model.expand, model.bn1, [0, 1]), (model.dw, model.bn2, [4, 5, 6])])
    x = torch.randn(4, 1, 8, 8)
    expected, expected_training = outputs(model, x), outputs(model, x, training=True)

    plan = remove_structures(model, EXAMPLE)

    assert plan.ops == [{"layer": "dw", "op": "out", "idxs": [4, 5, 6]}] and plan.skipped == []
    assert (model.expand.out_channels, model.bn1.num_features, model.dw.out_channels, model.project.in_channels) \
        == (9, 9, 9, 9)
    assert torch.allclose(outputs(model, x), expected, atol=1e-5)
    assert torch.allclose(outputs(model, x, training=True), expected_training, atol=1e-5)
    assert plan.notes == [
        "expand: 2 zero filters kept: 'bn2', the BatchNorm after 'dw', outputs a non-zero value for them even from "
        "a zero input (its bias or running mean is not zero), which 'project' reads: zero the same filters of 'dw' "
        "too (one pruner with `group_dependency: Leader` over the weights of 'expand' and 'dw')"]


def test_a_zero_depthwise_filter_whose_batchnorm_still_shifts_is_kept_with_what_to_zero():
    torch.manual_seed(0)
    model = give_batchnorms_statistics(InvertedResidual())
    zeroed(model, [(model.dw, None, [2, 3])])

    plan = remove_structures(model, EXAMPLE)

    assert plan.ops == [] and model.dw.out_channels == 12
    assert plan.notes == [
        "dw: 2 zero filters kept: 'bn2', the BatchNorm after it, outputs a non-zero value for them even from a zero "
        "input (its bias or running mean is not zero), which 'project' reads: zero its weight and bias for them too "
        "(a filter pruner does so with the filters)"]


def test_a_channel_silenced_in_the_chain_but_read_around_it_stays():
    torch.manual_seed(0)
    model = give_batchnorms_statistics(InvertedResidual(side=True))
    zeroed(model, [(model.dw, model.bn2, [4, 5])])
    with torch.no_grad():
        model.side.weight[:, 5] = 0  # channel 5 reaches `side` with zero weights: it can go
    x = torch.randn(4, 1, 8, 8)
    expected = outputs(model, x)

    plan = remove_structures(model, EXAMPLE)

    assert plan.ops == [{"layer": "dw", "op": "out", "idxs": [5]}] and plan.skipped == []
    assert model.dw.out_channels == 11 and model.side.in_channels == 11
    assert plan.notes == [
        "dw: 1 zero filters kept: 'expand' outputs non-zero values on these channels, which 'side' reads without "
        "passing through 'dw': zero the same filters of 'expand' too (one pruner with `group_dependency: Leader` "
        "over the weights of 'dw' and 'expand')"]
    assert torch.allclose(outputs(model, x), expected, atol=1e-5)
