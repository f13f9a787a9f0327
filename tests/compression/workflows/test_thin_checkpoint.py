"""Thinning as a step on a checkpoint file's payload."""
import torch

from compressor.compression.core.checkpoint import load_checkpoint, save_checkpoint
from compressor.compression.restore import model_from_checkpoint
from compressor.compression.workflows.thin_checkpoint import thin_checkpoint


def test_thin_checkpoint_returns_a_smaller_payload_that_rebuilds_with_equal_outputs(masked_model, tmp_path):
    model, _ = masked_model("resnet20_cifar", 32)
    conv1 = model.layer1[0].conv1.weight
    save_checkpoint({"arch": "resnet20_cifar", "num_classes": 10, "epoch": 3, "model_state": model.state_dict(),
                     "optimizer_state": {"state": {}, "param_groups": []},
                     "masks": {"masks": {"layer1.0.conv1.weight": conv1.detach() != 0}, "forward_only": []}},
                    tmp_path / "masked.pt")
    payload = load_checkpoint(tmp_path / "masked.pt")

    thinned = thin_checkpoint(payload, "filters")

    assert "optimizer_state" not in thinned and thinned["epoch"] == 3 and thinned["thinning"]
    summary = thinned["thinning_summary"]
    assert summary["params_after"] < 0.5 * summary["params_before"] and summary["skipped"] == []
    save_checkpoint(thinned, tmp_path / "thin.pt")
    rebuilt, _ = model_from_checkpoint(load_checkpoint(tmp_path / "thin.pt"))
    assert thinned["masks"]["masks"]["layer1.0.conv1.weight"].shape == rebuilt.layer1[0].conv1.weight.shape
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(rebuilt.eval()(x), model(x), atol=1e-4)


def test_thinning_a_model_in_training_mode_leaves_its_batchnorm_statistics_alone(masked_model):
    from compressor.compression.thinning import remove_structures

    model, example = masked_model("resnet20_cifar", 32)
    model.train()
    running_mean = model.layer3[2].bn2.running_mean.clone()
    remove_structures(model, example)
    assert model.training and model.layer3[0].conv1.out_channels < 64
    kept = model.layer3[2].bn2.running_mean
    assert all(any(torch.equal(value, old) for old in running_mean) for value in kept)
