"""`--weights`: plain state_dict files in their usual wrappings; files that do not fit or need code are refused."""
import collections

import pytest
import torch
from torch import nn

from compressor.compression.core.errors import UserError
from compressor.compression.models.weights import load_weights


def net():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 3))


@pytest.fixture
def source():
    torch.manual_seed(1)
    return net()


@pytest.mark.parametrize("wrap", [
    lambda s: s,
    lambda s: {"state_dict": s, "epoch": 3},
    lambda s: {"model_state_dict": s, "optimizer_state_dict": {}},
    lambda s: {"module." + key: value for key, value in s.items()},
])
def test_a_state_dict_in_each_usual_wrapping_loads_exactly(source, wrap, tmp_path):
    torch.save(wrap(source.state_dict()), tmp_path / "w.pt")
    torch.manual_seed(2)
    target = net()
    load_weights(target, str(tmp_path / "w.pt"))
    expected, actual = source.state_dict(), target.state_dict()
    assert set(expected) == set(actual) and all(torch.equal(expected[k], actual[k]) for k in expected)


def test_keys_and_shapes_that_do_not_fit_are_listed(source, tmp_path):
    state = source.state_dict()
    state["3.weight"] = torch.zeros(5, 144)
    del state["1.running_mean"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(UserError) as raised:
        load_weights(net(), str(tmp_path / "w.pt"))
    message = str(raised.value)
    assert "missing: 1.running_mean" in message and "unexpected: extra.weight" in message
    assert "3.weight (5, 144) vs the model's (3, 144)" in message


def test_a_file_that_needs_code_to_load_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"state_dict": collections.OrderedDict(), "payload": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match="needs code to load"):
        load_weights(net(), str(tmp_path / "evil.pt"))
    assert not marker.exists()


def test_missing_files_empty_files_and_uncached_enums(tmp_path):
    with pytest.raises(UserError, match="weights file not found"):
        load_weights(net(), str(tmp_path / "none.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(UserError, match="is not a weights file"):
        load_weights(net(), str(tmp_path / "junk.pt"))
    torch.save({"epoch": 3}, tmp_path / "noweights.pt")
    with pytest.raises(UserError, match="holds no state_dict"):
        load_weights(net(), str(tmp_path / "noweights.pt"))


def test_a_torchvision_enum_is_read_from_the_local_cache_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError, match="not in the local torch cache"):
        load_weights(net(), "ResNet18_Weights.IMAGENET1K_V1")
    with pytest.raises(UserError, match="unknown torchvision weights"):
        load_weights(net(), "ResNet18_Weights.NOPE")
