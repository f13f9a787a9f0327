"""Structure changes rehearsed before training: what a thinned layer cannot take is refused before the first batch."""
import pytest
import torch

from compressor.compression.core.errors import ScheduleError
from compressor.compression.factorization import FactorizedLayer
from compressor.compression.rehearsal import rehearsal_needed
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.scheduler import build_scheduler

from helpers import context_for, train_schedule


THINNED_FIRST = """
version: 1
model: {arch: digits_cnn}
dataset: {name: fake, size: 16, batch_size: 8}
training: {epochs: 2, optimizer: sgd, lr: 0.01, seed: 1}
pruners:
  filters:
    class: L1RankedStructureParameterPruner
    group_type: Filters
    desired_sparsity: 0.5
    weights: [conv1.weight]
extensions:
  thin: {class: FilterRemover, thinning_func_str: remove_filters}
  lowrank:
    class: LowRankFactorizer
    method: spatial_svd
    rank: RANK
    layers: [conv2]
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - extension: {instance_name: thin}
    epochs: [0]
  - extension: {instance_name: lowrank}
    epochs: [1]
"""


def test_a_rank_that_an_earlier_thinning_makes_too_large_is_refused_before_training(tmp_path):
    # conv2 takes 32 channels (spatial SVD: at most 96); after conv1 loses half its filters, at most 48
    with pytest.raises(ScheduleError, match=r"extensions.lowrank.*at the end of epoch 1 after FilterRemover 'thin' "
                                            r"at epoch 0: layer 'conv2': rank 60 is larger than spatial_svd allows "
                                            r"for it \(at most 48\)"):
        train_schedule(tmp_path, "run", THINNED_FIRST.replace("RANK", "60"))
    assert not (tmp_path / "run").exists()
    context = context_for()
    state = torch.get_rng_state()
    build_scheduler(parse_schedule_text(THINNED_FIRST.replace("RANK", "40")), context)
    assert torch.equal(torch.get_rng_state(), state)  # the rehearsal leaves the run's random stream alone
    assert context.model.conv1.out_channels == 32 and not isinstance(context.model.conv2, FactorizedLayer)


@pytest.mark.parametrize("policies,start,needed", [
    ("thin: [0]\nlowrank: [1]", 0, True),
    ("thin: [1]\nlowrank: [1]", 0, True),  # due at the same epoch end: the rehearsal runs them in order
    ("thin: [0]\nlowrank: [1]", 1, False),  # resumed after the thinning: the model is thinned already
    ("thin: [2]\nlowrank: [1]", 0, False),
    ("lowrank: [1]", 0, False),
])
def test_only_a_structure_change_due_by_a_factorizer_epoch_is_rehearsed(policies, start, needed):
    items = [line.split(": ") for line in policies.splitlines()]
    text = THINNED_FIRST.split("policies:")[0].replace("RANK", "40") + "policies:\n" + "".join(
        f"  - extension: {{instance_name: {name}}}\n    epochs: {epochs}\n" for name, epochs in items)
    assert rehearsal_needed(parse_schedule_text(text), start) is needed
