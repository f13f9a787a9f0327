"""The factorization record in checkpoints: replayed with thinning in the order training did; malformed, refused."""
import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint, save_checkpoint
from compressor.compression.core.errors import UserError
from compressor.compression.factorization import factorize, recorded_factorization
from compressor.compression.factorization.configs import LowRankFactorizerConfig
from compressor.compression.models import build_model
from compressor.compression.restore import model_from_checkpoint
from compressor.compression.thinning import recorded_plan, remove_structures

EXAMPLE = torch.zeros(1, 1, 8, 8)


@torch.no_grad()
def zero_filters(conv, bn, idxs):
    for tensor in (conv.weight, conv.bias, bn.weight, bn.bias):
        tensor[idxs] = 0


def payload(model):
    return {"arch": "digits_cnn", "num_classes": 10, "model_state": model.state_dict(),
            "thinning": recorded_plan(model), "factorization": recorded_factorization(model), "qat": []}


def test_thinning_after_factorizing_is_replayed_in_the_order_it_was_done(tmp_path):
    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    zero_filters(model.conv2, model.bn2, slice(0, None, 2))
    remove_structures(model, (EXAMPLE,))
    factorize(model, LowRankFactorizerConfig(rank=10, layers=["conv1", "conv3"], overrides={"conv1": {"rank": 2}}),
              (1, 8, 8))
    with torch.no_grad():
        model.conv3[0].weight[[0, 3, 7]] = 0  # the next thinning removes some of conv3's rank channels
    zero_filters(model.conv2, model.bn2, [0, 5, 9])  # and some of its inputs
    remove_structures(model, (EXAMPLE,))
    assert (model.conv3[0].in_channels, model.conv3[0].out_channels, model.conv3[1].in_channels) == (29, 7, 7)
    steps = recorded_factorization(model)
    assert [(step["layer"], step["ranks"], step["thinning_before"]) for step in steps] == [
        ("conv1", [2], 1), ("conv3", [10], 1)]
    assert len(recorded_plan(model)) == 3 and recorded_plan(model)[-1]["layer"] == "conv3.0"
    save_checkpoint(payload(model), tmp_path / "c.pt")
    rebuilt, _ = model_from_checkpoint(load_checkpoint(tmp_path / "c.pt"))
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(rebuilt.eval()(x), model(x), atol=1e-6)
    assert recorded_factorization(rebuilt) == steps and recorded_plan(rebuilt) == recorded_plan(model)


def factorized_payload():
    torch.manual_seed(0)
    model = build_model("digits_cnn")
    factorize(model, LowRankFactorizerConfig(rank_ratio=0.5, layers=["conv2"]), (1, 8, 8))
    return payload(model)


@pytest.mark.parametrize("record,message", [
    ({"layer": "conv2"}, "must be a list of steps"),
    ([{"layer": "conv2", "method": "cp", "ranks": [48]}], "factorization step 0 is malformed"),
    ([{"layer": "conv2", "method": "svd", "ranks": [0]}], "factorization step 0 is malformed"),
    ([{"layer": "conv2", "method": "spatial_svd", "ranks": [48], "thinning_before": 1}],
     "follows 1 thinning operations, but the checkpoint records 0"),
    ([{"layer": "conv9", "method": "spatial_svd", "ranks": [48]}], "has no Conv2d or Linear layer by that name"),
    ([{"layer": "conv2", "method": "spatial_svd", "ranks": [200]}], "takes ranks up to \\[96\\]"),
    ([{"layer": "fc1", "method": "tucker2", "ranks": [2, 2]}], "its Linear 'fc1' takes svd"),
])
def test_a_record_that_does_not_fit_the_model_is_refused(record, message):
    broken = {**factorized_payload(), "factorization": record}
    with pytest.raises(UserError, match=message):
        model_from_checkpoint(broken)


def test_a_checkpoint_without_a_record_is_not_factorized():
    fine = factorized_payload()
    assert fine["factorization"] == [{"layer": "conv2", "method": "spatial_svd", "ranks": [48], "thinning_before": 0}]
    model_from_checkpoint(fine)
    with pytest.raises(UserError, match="do not fit"):
        model_from_checkpoint({key: value for key, value in fine.items() if key != "factorization"})
