"""A factorized layer computes what the layer did (exactly at full rank, closer with each rank), as fast as said."""
import copy

import pytest
import torch
from torch import nn

from compressor.compression.factorization import FactorizedLayer, factorize
from compressor.compression.factorization.configs import LowRankFactorizerConfig
from compressor.compression.summary import count_macs

CONVS = {
    "plain": lambda: nn.Conv2d(6, 10, 3, padding=1),
    "strided_dilated_no_bias": lambda: nn.Conv2d(6, 10, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                                                 bias=False),
    "reflect": lambda: nn.Conv2d(6, 10, 3, padding=1, padding_mode="reflect"),
    "same": lambda: nn.Conv2d(6, 10, 3, padding="same"),
    "wide_input": lambda: nn.Conv2d(40, 3, 3, stride=2),
}
SHAPE = (6, 12, 12)


def one_layer(layer, shape):
    torch.manual_seed(0)
    return nn.Sequential(layer).eval(), torch.randn(4, *shape)


def config(method="spatial_svd", **rank):
    return LowRankFactorizerConfig(method=method, layers=["0"], **(rank or {"rank_ratio": 1.0}))


@pytest.mark.parametrize("method", ["svd", "spatial_svd", "tucker2"])
@pytest.mark.parametrize("kind", list(CONVS))
def test_a_conv_at_full_rank_computes_what_it_did(method, kind):
    layer = CONVS[kind]()
    shape = (layer.in_channels, 12, 12)
    model, x = one_layer(layer, shape)
    before = model(x)
    plan = factorize(model, config(method), shape)
    assert isinstance(model[0], FactorizedLayer) and plan.layers[0]["method"] == method
    assert [part.bias is not None for part in model[0]][-1] == (layer.bias is not None)
    assert not any(part.bias is not None for part in list(model[0])[:-1])
    assert model(x).shape == before.shape
    assert torch.allclose(model(x), before, atol=1e-5)


def test_a_linear_layer_at_full_rank_computes_what_it_did():
    model, x = one_layer(nn.Linear(20, 7), (20,))
    before = model(x)
    factorize(model, config("tucker2"), (20,))  # a Linear layer takes svd whatever the method
    first, second = model[0]
    assert (first.in_features, first.out_features, first.bias) == (20, 7, None)
    assert (second.in_features, second.out_features) == (7, 7) and second.bias is not None
    assert torch.allclose(model(x), before, atol=1e-5)


@pytest.mark.parametrize("method,layer", [("svd", nn.Linear(30, 20)), ("svd", CONVS["plain"]()),
                                          ("spatial_svd", CONVS["plain"]()), ("tucker2", CONVS["plain"]())])
def test_the_error_falls_as_the_rank_grows(method, layer):
    shape = (30,) if isinstance(layer, nn.Linear) else SHAPE
    reference, x = one_layer(layer, shape)
    expected = reference(x)
    errors = []
    for ratio in (0.2, 0.5, 0.8, 1.0):
        model = copy.deepcopy(reference)
        factorize(model, config(method, rank_ratio=ratio), shape)
        errors.append((model(x) - expected).norm().item())
    assert errors == sorted(errors, reverse=True) and errors[0] > errors[1] and errors[-1] < 1e-4


@pytest.mark.parametrize("method", ["svd", "spatial_svd", "tucker2"])
@pytest.mark.parametrize("kind", ["plain", "strided_dilated_no_bias"])
def test_the_planned_macs_are_those_torch_counts(method, kind):
    model, _ = one_layer(CONVS[kind](), SHAPE)
    before = sum(count_macs(model, SHAPE).values())
    plan = factorize(model, config(method, rank_ratio=0.5), SHAPE)
    assert plan.layers[0]["macs_before"] == before
    assert plan.layers[0]["macs_after"] == sum(count_macs(model, SHAPE).values())


@pytest.mark.parametrize("method", ["svd", "spatial_svd", "tucker2"])
def test_macs_ratio_takes_the_largest_ranks_within_the_budget(method):
    shape = (16, 10, 10)
    model, _ = one_layer(nn.Conv2d(16, 24, 3, padding=1), shape)
    [layer] = factorize(copy.deepcopy(model), config(method, macs_ratio=0.5), shape).layers
    assert layer["macs_after"] <= 0.5 * layer["macs_before"]
    if method != "tucker2":  # one rank more is over the budget
        [larger] = factorize(model, config(method, rank=layer["ranks"][0] + 1), shape).layers
        assert larger["macs_after"] > 0.5 * layer["macs_before"]


def test_energy_keeps_the_fewest_singular_values_that_reach_it():
    layer = nn.Linear(8, 8, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.diag(torch.tensor([4.0, 2.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0])))
    model = nn.Sequential(layer)
    share_of_two = (16 + 4) / (16 + 4 + 1 + 1 + 0.25)
    plan = factorize(model, config(energy=share_of_two), (8,))
    assert plan.layers[0]["ranks"] == [2]
    plan = factorize(nn.Sequential(copy.deepcopy(layer)), config(energy=share_of_two + 1e-3), (8,))
    assert plan.layers[0]["ranks"] == [3]


def test_tucker2_takes_a_pair_of_ranks_and_rank_ratio_scales_both():
    model, x = one_layer(nn.Conv2d(8, 12, 3, padding=1), (8, 6, 6))
    factorize(model, config("tucker2", rank=[3, 5]), (8, 6, 6))
    first, core, last = model[0]
    assert (first.out_channels, core.in_channels, core.out_channels, last.in_channels) == (3, 3, 5, 5)
    model, _ = one_layer(nn.Conv2d(8, 12, 3, padding=1), (8, 6, 6))
    assert factorize(model, config("tucker2", rank_ratio=0.5), (8, 6, 6)).layers[0]["ranks"] == [4, 6]
