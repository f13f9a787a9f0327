"""Thinning a model with early exits removes the channels an exit reads from the exit too."""
import torch

from compressor.compression.models.exits import all_exit_outputs
from compressor.compression.thinning.remove import thin


def test_thinning_the_channels_an_exit_reads_keeps_every_exit_equal(masked_model):
    model, example = masked_model("resnet20_cifar_earlyexit", 32)
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = all_exit_outputs(model, images)
    head = model.layer1[2].relu2.branch_net[2]
    plan = thin(model, example)
    assert head.in_features < 1600 and head.in_features % 100 == 0  # whole channels of 10x10 positions
    assert plan.params_after < plan.params_before
    with torch.no_grad():
        after = all_exit_outputs(model.eval(), images)
    for old, new in zip(before, after):
        assert torch.allclose(old, new, atol=1e-4)
