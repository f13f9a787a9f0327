import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint, save_checkpoint
from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.restore import model_from_checkpoint


def test_round_trip_rebuilds_the_model(tmp_path):
    model = build_model("digits_cnn")
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "model_state": model.state_dict()}, tmp_path / "c.pt")
    payload = load_checkpoint(tmp_path / "c.pt")
    rebuilt, info = model_from_checkpoint(payload)
    assert info.name == "digits_cnn"
    original, loaded = model.state_dict(), rebuilt.state_dict()
    assert list(original) == list(loaded)
    assert all(torch.equal(original[key], loaded[key]) for key in original)


def test_weights_that_do_not_fit_the_arch(tmp_path):
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "model_state": {"fc2.weight": torch.zeros(3)}},
                    tmp_path / "c.pt")
    with pytest.raises(UserError, match="do not fit"):
        model_from_checkpoint(load_checkpoint(tmp_path / "c.pt"))


@pytest.mark.parametrize("payload", [{"num_classes": 10}, {"arch": "digits_cnn", "num_classes": 10},
                                     {"arch": 3, "model_state": {}}])
def test_a_checkpoint_without_a_model_says_so(payload):
    with pytest.raises(UserError, match="no model to rebuild"):
        model_from_checkpoint(payload)


def test_forward_only_masks_zero_their_weights_in_the_model_a_checkpoint_describes(tmp_path):
    model = build_model("digits_cnn")
    keep = torch.rand_like(model.conv2.weight) > 0.5
    hard = torch.rand_like(model.fc1.weight) > 0.5  # a hard mask's zeros are in the weights already
    masks = {"masks": {"conv2.weight": keep, "fc1.weight": hard}, "forward_only": ["conv2.weight"]}
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "model_state": model.state_dict(), "masks": masks},
                    tmp_path / "c.pt")
    rebuilt, _ = model_from_checkpoint(load_checkpoint(tmp_path / "c.pt"))
    assert torch.equal(rebuilt.conv2.weight, model.conv2.weight * keep)
    assert torch.equal(rebuilt.fc1.weight, model.fc1.weight)
