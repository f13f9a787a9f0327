"""An own training loop resumes a run whose layers were thinned, factorized and folded: the scheduler's state
dict replays them on a freshly built model and gives the optimizer the new parameters in the saved order."""
import pytest
import torch
from torch import nn

from compressor import CompressionScheduler, UserError

from helpers import own_loop_epochs

SCHEDULE = """
version: 1
pruners:
  filters:
    class: L1RankedStructureParameterPruner
    group_type: Filters
    desired_sparsity: 0.5
    weights: [body.0.weight]
extensions:
  thin: {class: FilterRemover, thinning_func_str: remove_filters}
  fold: {class: BatchNormFolder}
  lowrank: {class: LowRankFactorizer, method: tucker2, rank_ratio: 0.5, layers: ['body\\.3']}
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - extension: {instance_name: thin}
    epochs: [0]
  - extension: {instance_name: lowrank}
    epochs: [1]
  - extension: {instance_name: fold}
    epochs: [2]
"""


class OwnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x):
        return self.head(self.body(x))


def own_model():
    torch.manual_seed(0)
    return OwnNet()


def own_optimizer(model):
    """Two groups, as many loops have: no weight decay on biases and BatchNorm parameters."""
    decayed = [p for name, p in model.named_parameters() if name.endswith("weight") and p.dim() > 1]
    others = [p for name, p in model.named_parameters() if not (name.endswith("weight") and p.dim() > 1)]
    return torch.optim.SGD([{"params": decayed, "weight_decay": 1e-3}, {"params": others, "weight_decay": 0.0}],
                           lr=0.05, momentum=0.9)


def built(tmp_path):
    model = own_model()
    optimizer = own_optimizer(model)
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE)
    return model, optimizer, CompressionScheduler.from_yaml(path, model, optimizer, input_shape=(3, 8, 8))


def train(model, optimizer, scheduler, epochs):
    own_loop_epochs(scheduler, model, optimizer, epochs, input_shape=(3, 8, 8), classes=4)


def test_an_own_loop_resumes_a_thinned_factorized_folded_run_bit_exactly(tmp_path):
    model, optimizer, scheduler = built(tmp_path)
    train(model, optimizer, scheduler, range(3))
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, tmp_path / "resume.pt")
    train(model, optimizer, scheduler, range(3, 4))

    saved = torch.load(tmp_path / "resume.pt")
    fresh, fresh_optimizer, fresh_scheduler = built(tmp_path)
    fresh_scheduler.load_state_dict(saved["scheduler"])
    fresh.load_state_dict(saved["model"])
    fresh_optimizer.load_state_dict(saved["optimizer"])
    train(fresh, fresh_optimizer, fresh_scheduler, range(3, 4))
    assert fresh.body[0].out_channels == 4 and type(fresh.body[3]).__name__ == "FactorizedLayer"
    assert isinstance(fresh.body[1], nn.Identity)  # folded into the first convolution
    for (name, mine), (_, theirs) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(mine, theirs), name


def test_a_model_changed_otherwise_is_refused(tmp_path):
    model, optimizer, scheduler = built(tmp_path)
    train(model, optimizer, scheduler, range(1))  # thinned only
    state = scheduler.state_dict()
    other, other_optimizer, other_scheduler = built(tmp_path)
    train(other, other_optimizer, other_scheduler, range(2))  # thinned and factorized
    with pytest.raises(UserError, match="already changed, and not as the saved state records"):
        other_scheduler.load_state_dict(state)


def test_nothing_is_recorded_while_no_layer_changed(tmp_path):
    model, optimizer, scheduler = built(tmp_path)
    assert "structure" not in scheduler.state_dict()
