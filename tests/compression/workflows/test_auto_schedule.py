"""The schedule `auto` writes: valid, and its pruners drop exactly the filters the search removed."""
import copy

import pytest
import torch

from compressor.compression.core.components import BuildContext
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.pruning.structures import lowest_k_mask
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training.setup import build_scheduler
from compressor.compression.workflows.auto_prune import remove_weakest
from compressor.compression.workflows.auto_schedule import Training, removed_fraction, reproduce_schedule
from compressor.compression.workflows.auto_space import FilterGroup, search_space
from helpers import give_batchnorms_statistics, mixed_groups_net


def test_removed_fraction_drops_exactly_that_many_filters():
    for channels in (3, 7, 16, 96, 512, 2048):
        for removed in range(channels):
            keep = lowest_k_mask(torch.arange(channels, dtype=torch.float32), removed_fraction(removed, channels))
            assert int((~keep).sum()) == removed, (removed, channels)


def test_schedule_parses_with_one_pruner_per_shrunk_group_and_leader_for_partners():
    groups = (FilterGroup(("conv1",), 32), FilterGroup(("layer1.0.conv2", "layer1.1.conv2"), 16),
              FilterGroup(("conv3",), 128), FilterGroup(("fc1",), 128, "Rows"))
    text = reproduce_schedule("digits_cnn", "/tmp/dense.pt", {"name": "digits", "batch_size": 64},
                              Training(epochs=3, lr=0.01), groups,
                              {"conv1": 24, "layer1.0.conv2": 8, "conv3": 128, "fc1": 32}, ["made by a test"])
    assert text.startswith("# made by a test\n")
    schedule = parse_schedule_text(text)
    assert schedule.training.epochs == 3 and schedule.model.checkpoint == "/tmp/dense.pt"
    assert "filters_conv3" not in text  # conv3 keeps every filter: no pruner
    assert "group_dependency: Leader" in text and "weights: [layer1.0.conv2.weight, layer1.1.conv2.weight]" in text
    assert "desired_sparsity: 0.25" in text and "desired_sparsity: 0.5" in text
    rows = schedule.component("pruners", "rows_fc1").config  # a Linear layer: its rows, their biases too
    assert (rows.group_type, rows.prune_bias, rows.desired_sparsity, rows.weights) == ("Rows", True, 0.75,
                                                                                      ["fc1.weight"])


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
def test_each_kind_of_group_is_thinned_by_the_schedule_exactly_as_the_search_thinned_it():
    """A biased conv (prune_bias), an expansion conv with its depthwise conv (Leader), Linear rows with a
    BatchNorm1d: the schedule's masks at epoch 0 and its FilterRemover give the search's model, weight for weight."""
    example = torch.zeros(1, 1, 8, 8)
    searched = give_batchnorms_statistics(mixed_groups_net())
    scheduled = copy.deepcopy(searched)
    groups = search_space(searched, example).groups
    kept = {group.leader: group.channels * 5 // 8 for group in groups}
    for group in reversed(groups):  # last first: each is ranked on its dense weights, as the pruners rank
        assert remove_weakest(searched, example, group, group.channels - kept[group.leader]) > 0
    text = reproduce_schedule("helpers:mixed_groups_net", "/tmp/dense.pt", {"name": "digits"},
                              Training(epochs=1, lr=0.01), groups, kept)
    assert "weights: [expand.weight, dw.weight]" in text
    context = BuildContext(scheduled, torch.optim.SGD(scheduled.parameters(), lr=0.01), MaskStore(scheduled),
                           (1, 8, 8), torch.device("cpu"))
    scheduler = build_scheduler(parse_schedule_text(text), context)
    scheduler.on_epoch_begin(0)
    scheduler.on_epoch_end(0, {"val_loss": 1.0})
    expected, got = searched.state_dict(), scheduled.state_dict()
    assert {k: tuple(v.shape) for k, v in got.items()} == {k: tuple(v.shape) for k, v in expected.items()}
    assert all(torch.equal(got[k], expected[k]) for k in expected)
