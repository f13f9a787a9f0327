"""The schedule `auto` writes: valid, and its pruners drop exactly the filters the search removed."""
import torch

from compressor.compression.pruning.structures import lowest_k_mask
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.workflows.auto_schedule import Training, removed_fraction, reproduce_schedule
from compressor.compression.workflows.auto_space import FilterGroup


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
