"""Thinning on the built-in and torchvision models: same outputs, fewer parameters, saves, trains."""
import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint, save_checkpoint
from compressor.compression.restore import model_from_checkpoint
from compressor.compression.thinning import recorded_plan, remove_structures

# (arch, input size): the torchvision models run on 64x64 inputs to keep the test fast; alexnet covers a
# flatten into a Linear layer (torchvision's vgg11 would too, with a 102M-weight classifier).
MODELS = [("resnet18", 64), ("resnet50", 64), ("vgg11_cifar", 32), ("mobilenet_v2", 64), ("alexnet", 64),
          ("resnet20_cifar", 32)]


def outputs(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def train_step(model, x):
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), torch.arange(x.shape[0]) % 10)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    changed = any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    return loss.item(), changed


@pytest.mark.parametrize("arch,size", MODELS)
def test_thinned_model_matches_masked_model_saves_and_trains(arch, size, masked_model, tmp_path):
    model, example = masked_model(arch, size)
    x = torch.randn(2, *example.shape[1:])
    expected = outputs(model, x)

    plan = remove_structures(model, example, "filters")

    assert plan.skipped == [] and plan.ops
    assert plan.params_after < 0.5 * plan.params_before
    assert plan.params_after == sum(p.numel() for p in model.parameters())
    assert torch.allclose(outputs(model, x), expected, rtol=0, atol=1e-4)

    save_checkpoint({"arch": arch, "num_classes": 10, "model_state": model.state_dict(),
                     "thinning": recorded_plan(model)}, tmp_path / "thin.pt")
    rebuilt, _ = model_from_checkpoint(load_checkpoint(tmp_path / "thin.pt"))
    assert torch.equal(outputs(rebuilt, x), outputs(model, x))

    loss, changed = train_step(rebuilt, x)
    assert torch.isfinite(torch.tensor(loss)) and changed
