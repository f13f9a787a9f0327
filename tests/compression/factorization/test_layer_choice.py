"""Which layers are factorized, how, and which settings are refused before anything changes."""
import pytest
import torch
from torch import nn

from compressor.compression.core.errors import UserError
from compressor.compression.factorization import FactorizedLayer, factorize
from compressor.compression.factorization.configs import LowRankFactorizerConfig
from compressor.compression.factorization.selection import select_layers

SHAPE = (4, 8, 8)


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(4, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pointwise = nn.Conv2d(8, 16, 1)
        self.body = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = self.body(self.pointwise(self.depthwise(self.stem(x))))
        return self.head(x.mean((2, 3)))


def mixed():
    torch.manual_seed(0)
    return Mixed()


def chosen(model, **arguments):
    selection = select_layers(model, LowRankFactorizerConfig(**arguments))
    return {target.name: target.method for target in selection.targets}, selection.skipped


def test_by_default_every_conv_with_a_kernel_and_every_linear_layer():
    methods, skipped = chosen(mixed(), method="tucker2", rank_ratio=0.5)
    assert methods == {"stem": "tucker2", "body.0": "tucker2", "body.2": "tucker2", "head": "svd"}
    assert skipped == [{"layer": "depthwise", "reason": "a grouped conv (groups=8): low-rank factorization "
                                                        "replaces dense layers only"}]


def test_layers_and_overrides_first_match_wins_null_leaves_alone():
    methods, skipped = chosen(mixed(), rank_ratio=0.5, layers=["body\\..*", "head"],
                              overrides={"body.2": None, "body.*": {"method": "svd"},
                                         "pointwise": {"method": "svd", "rank": 2}})
    assert methods == {"pointwise": "svd", "body.0": "svd", "head": "svd"}  # an override also selects
    assert skipped == [{"layer": "body.2", "reason": "overrides: 'body.2' is null"}]


def test_an_override_rank_criterion_replaces_the_factorizer_one():
    model = mixed()
    plan = factorize(model, LowRankFactorizerConfig(rank_ratio=1.0, layers=["body.0", "head"],
                                                    overrides={"head": {"rank": 2}}), SHAPE)
    assert [(layer["layer"], layer["ranks"]) for layer in plan.layers] == [("body.0", [48]), ("head", [2])]
    assert isinstance(model.body[0], FactorizedLayer) and isinstance(model.head, FactorizedLayer)
    assert sorted(model.state_dict()) == sorted(
        ["stem.weight", "stem.bias", "depthwise.weight", "depthwise.bias", "pointwise.weight", "pointwise.bias",
         "body.0.0.weight", "body.0.1.weight", "body.0.1.bias", "body.2.weight", "body.2.bias",
         "head.0.weight", "head.1.weight", "head.1.bias"])


@pytest.mark.parametrize("arguments,message", [
    ({"rank": 9, "layers": ["head"]}, "rank 9 is larger than svd allows for it \\(at most 5\\)"),
    ({"rank": 13, "layers": ["stem"]}, "rank 13 is larger than spatial_svd allows for it \\(at most 12\\)"),
    ({"rank": [2, 3], "layers": ["stem"]}, "rank \\[2, 3\\] is a pair, which only tucker2 takes"),
    ({"method": "tucker2", "rank": [5, 2], "layers": ["stem"]}, "rank 5 is larger than tucker2 allows"),
    ({"rank": 1, "layers": ["stem", "conv9"]}, "layers: 'conv9' matches no Conv2d or Linear layer"),
    ({"rank": 1, "overrides": {"bodyy.*": None}}, "overrides: 'bodyy.\\*' matches no Conv2d or Linear layer"),
    ({"rank": 1, "overrides": {"head": {"method": "tucker2"}}}, "Linear layer 'head' with tucker2"),
    ({"rank": 1, "method": "tucker2", "layers": ["pointwise"]}, "1x1 conv 'pointwise' with tucker2"),
    ({"rank": 1, "overrides": {"pointwise": {"method": "spatial_svd"}}}, "1x1 conv 'pointwise' with spatial_svd"),
    ({"rank": 1, "overrides": {"depthwise": {}}}, "'depthwise': it is a grouped conv \\(groups=8\\)"),
    ({"macs_ratio": 0.01, "layers": ["stem"]}, "no rank meets macs_ratio"),
])
def test_what_cannot_be_factorized_is_refused_and_nothing_changes(arguments, message):
    model = mixed()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    with pytest.raises(UserError, match=message):
        factorize(model, LowRankFactorizerConfig(**arguments), SHAPE)
    after = model.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)


def test_layers_already_factorized_are_left_alone_and_still_match_their_patterns():
    model = mixed()
    config = LowRankFactorizerConfig(rank_ratio=0.5, overrides={"stem": {"rank": 3}})
    first = factorize(model, config, SHAPE)
    assert [layer["layer"] for layer in first.layers] == ["stem", "body.0", "body.2", "head"]
    again = factorize(model, config, SHAPE)  # e.g. a policy due twice, or a resumed run's factorizer
    assert again.layers == [] and again.skipped == [{"layer": "depthwise", "reason": first.skipped[0]["reason"]}]


def test_macs_ratio_needs_the_input_shape():
    with pytest.raises(UserError, match="macs_ratio needs the model's input shape"):
        factorize(mixed(), LowRankFactorizerConfig(macs_ratio=0.5), ())
