"""BatchNormFolder: folding in place keeps what the model computes; in a run, its checkpoints, packed files
and resume; what it refuses at build time."""
import pytest
import torch
from torch import nn

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.core.errors import ScheduleError
from compressor.compression.folding import fold_batchnorms, recorded_folding
from compressor.compression.models import build_model
from compressor.compression.packing import load_packed_model, pack
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.restore import model_from_checkpoint

from helpers import give_batchnorms_statistics, scheduler_for, train_schedule

SCHEDULE = """
version: 1
model: {arch: digits_cnn}
dataset: {name: fake, size: 16, batch_size: 8}
training: {epochs: 2, optimizer: sgd, lr: 0.01, momentum: 0.9, seed: 1}
extensions:
  fold:
    class: BatchNormFolder
policies:
  - extension: {instance_name: fold}
    epochs: [1]
"""
FOLDED = {"conv1": "bn1", "conv2": "bn2", "conv3": "bn3"}


def folded_digits_cnn():
    torch.manual_seed(0)
    model = give_batchnorms_statistics(build_model("digits_cnn"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, optimizer


def test_folding_keeps_the_outputs_the_weight_parameter_and_its_zeros():
    model, optimizer = folded_digits_cnn()
    masks = MaskStore(model)
    with torch.no_grad():
        model.conv2.weight[:5] = 0
    weight = model.conv2.weight
    x = torch.randn(4, 1, 8, 8)
    before = model(x)
    plan = fold_batchnorms(model, torch.zeros(1, 1, 8, 8), optimizer=optimizer, masks=masks)
    assert [(step["layer"], step["batchnorm"]) for step in plan.layers] == list(FOLDED.items())
    assert all(isinstance(getattr(model, bn), nn.Identity) for bn in FOLDED.values())
    assert torch.allclose(model(x), before, atol=1e-5)
    assert model.conv2.weight is weight and torch.count_nonzero(weight[:5]) == 0
    assert recorded_folding(model) == FOLDED
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert trained == {id(p) for p in model.parameters()}  # the new biases in, the BatchNorms' parameters out
    assert fold_batchnorms(model, torch.zeros(1, 1, 8, 8)).layers == []  # nothing left to fold


def test_a_batchnorm_that_reads_two_layers_is_not_folded():
    class Summed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 4, 3), nn.Conv2d(1, 4, 3)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(self.a(x) + self.b(x))

    plan = fold_batchnorms(Summed(), torch.zeros(1, 1, 6, 6))
    assert plan.layers == [] and {s["layer"] for s in plan.skipped} == {"a", "b"}


def test_a_run_folds_at_its_epoch_and_its_checkpoint_and_packed_file_rebuild_the_model(tmp_path):
    run, report = train_schedule(tmp_path, "run", SCHEDULE)
    model = run.model.eval()
    assert isinstance(model.bn2, nn.Identity) and model.conv2.bias is not None
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert saved["folded_batchnorm"] == FOLDED
    assert not any(key.startswith("bn") for key in saved["model_state"])
    x = torch.randn(3, 1, 8, 8)
    rebuilt, _ = model_from_checkpoint(saved)
    assert torch.equal(rebuilt.eval()(x), model(x))
    result = pack(str(tmp_path / "run" / "checkpoint.pt"), tmp_path / "model.cpk")
    assert result.max_abs_diff == 0.0
    assert torch.equal(load_packed_model(tmp_path / "model.cpk").eval()(x), model(x))


def test_a_folded_run_resumes(tmp_path):
    first, _ = train_schedule(tmp_path, "run", SCHEDULE)
    resumed, _ = train_schedule(tmp_path, "run", SCHEDULE, resume=str(tmp_path / "run" / "checkpoint.pt"), epochs=3)
    assert isinstance(resumed.model.bn1, nn.Identity) and recorded_folding(resumed.model) == FOLDED
    assert [record["epoch"] for record in resumed.history] == [0, 1, 2]


PRUNED_BN = SCHEDULE + """  - pruner: {instance_name: l1}
    epochs: [0]
pruners:
  l1: {class: AutomatedGradualPruner, initial_sparsity: 0.1, final_sparsity: 0.5, weights: [bn2.weight]}
"""
SHARED_FIRST = SCHEDULE + """  - quantizer: {instance_name: share}
    epochs: [0, 1]
quantizers:
  share: {class: KMeansWeightSharingQuantizer, clusters: 16}
"""


@pytest.mark.parametrize("text, message", [
    (SCHEDULE.replace("class: BatchNormFolder", "class: BatchNormFolder\n    layers: [fc.*]"),
     "layers \\['fc.\\*'\\] select no Conv2d with a BatchNorm to fold"),
    (PRUNED_BN, "pruner 'l1' works on bn2.weight, a parameter of a BatchNorm that BatchNormFolder folds away"),
    (SHARED_FIRST, "quantizer 'share' starts at epoch 0, but BatchNorms are folded at epoch 1"),
])
def test_what_folding_would_break_is_refused_at_build_time(text, message):
    with pytest.raises(ScheduleError, match=message):
        scheduler_for(text)


FOLD_THEN_THIN = SCHEDULE.replace("epochs: [1]", "epochs: [0]") + """  - pruner: {instance_name: filters}
    epochs: [1]
  - extension: {instance_name: thin}
    epochs: [1]
pruners:
  filters: {class: L1RankedStructureParameterPruner, group_type: Filters, desired_sparsity: 0.5,
            prune_bias: true, weights: [conv2.weight]}
extensions:
  fold: {class: BatchNormFolder}
  thin: {class: FilterRemover, thinning_func_str: remove_filters}
""".replace("extensions:\n  fold:\n    class: BatchNormFolder\n", "", 1)


def test_a_model_thinned_after_folding_rebuilds_from_its_checkpoint(tmp_path):
    run, _ = train_schedule(tmp_path, "run", FOLD_THEN_THIN)
    model = run.model.eval()
    assert model.conv2.out_channels == 32 and model.conv2.bias.shape == (32,)
    rebuilt, _ = model_from_checkpoint(load_checkpoint(tmp_path / "run" / "checkpoint.pt"))
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(rebuilt.eval()(x), model(x))


def test_a_quantizer_may_start_in_the_folds_epoch_when_listed_after_it():
    same_epoch = SHARED_FIRST.replace("epochs: [0, 1]", "epochs: [1]")
    scheduler_for(same_epoch)
    listed_first = same_epoch.replace("policies:\n", "policies:\n  - quantizer: {instance_name: share}\n    epochs: [1]\n"
                                      ).replace("  - quantizer: {instance_name: share}\n    epochs: [1]\nquantizers", "quantizers")
    with pytest.raises(ScheduleError, match="quantizer 'share' starts at epoch 1, but BatchNorms are folded at epoch 1"):
        scheduler_for(listed_first)
