"""BatchNorm statistics re-estimated on a few batches; a short fine-tune through the loop's epoch function."""
import torch
from torch import nn

from compressor.compression.workflows.auto_calibrate import recalibrate_batchnorm, short_finetune


def test_running_statistics_become_the_average_over_the_batches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 1), nn.BatchNorm2d(4)).eval()
    batches = [(torch.randn(8, 1, 4, 4) + 3.0, torch.zeros(8, dtype=torch.long)) for _ in range(3)]
    recalibrate_batchnorm(model, batches)
    with torch.no_grad():
        means = torch.stack([model[0](x).mean(dim=(0, 2, 3)) for x, _ in batches]).mean(dim=0)
    assert torch.allclose(model[1].running_mean, means, atol=1e-5)
    assert model[1].momentum == 0.1 and not model.training


def test_short_finetune_changes_the_weights_and_leaves_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(2)]
    before = model[1].weight.detach().clone()
    short_finetune(model, batches, 0.1, torch.device("cpu"))
    assert not torch.equal(before, model[1].weight) and not model.training
