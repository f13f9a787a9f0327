"""The early-exit training loss: Distiller's weighted sum of the exits' cross-entropies."""
import torch
import torch.nn.functional as F

from compressor.compression.distillation import TrainingLoss
from compressor.compression.early_exit import EarlyExitLoss
from compressor.compression.models import build_model
from compressor.compression.models.exits import all_exit_outputs


def batch():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(6, 3, 32, 32, generator=generator), torch.randint(0, 10, (6,), generator=generator)


def test_loss_is_the_weighted_sum_with_the_final_exit_taking_the_rest():
    torch.manual_seed(0)
    model = build_model("resnet20_cifar_earlyexit").train()
    images, targets = batch()
    exit0, final = all_exit_outputs(model, images)  # train mode: batch statistics, the same in both passes
    expected = 0.3 * F.cross_entropy(exit0, targets) + 0.7 * F.cross_entropy(final, targets)
    loss_fn = EarlyExitLoss([0.3], model, TrainingLoss())
    loss = loss_fn(images, model(images), targets, epoch=0)
    assert torch.allclose(loss, expected, atol=1e-6)
    components = loss_fn.epoch_components(steps=1)
    assert abs(components["exit0_loss"] - F.cross_entropy(exit0, targets).item()) < 1e-5
    assert abs(components["final_exit_loss"] - F.cross_entropy(final, targets).item()) < 1e-5


def test_the_exit_learns_only_through_its_weight():
    torch.manual_seed(0)
    model = build_model("resnet20_cifar_earlyexit").train()
    images, targets = batch()
    head = model.layer1[2].relu2.branch_net[2].weight
    for weight, learns in ((0.4, True), (0.0, False)):
        model.zero_grad()
        EarlyExitLoss([weight], model, TrainingLoss())(images, model(images), targets, 0).backward()
        assert (head.grad is not None and head.grad.abs().sum().item() > 0) == learns
    model.zero_grad()
    TrainingLoss()(images, model(images), targets, 0).backward()  # without the early-exit loss
    assert head.grad is None
