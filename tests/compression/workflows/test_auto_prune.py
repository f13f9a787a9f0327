"""One search step: the weakest filters by L1 go, for real, and the rest stay as they were."""
import torch

from compressor.compression.models import build_model
from compressor.compression.pruning.structures import lowest_k_mask, structure_scores
from compressor.compression.workflows.auto_prune import output_channels, remove_weakest, weakest_filters
from compressor.compression.workflows.auto_space import FilterGroup

EXAMPLE = torch.zeros(1, 1, 8, 8)


def test_the_weakest_filters_are_those_the_l1_pruner_drops():
    torch.manual_seed(0)
    model = build_model("digits_cnn", num_classes=10)
    keep = lowest_k_mask(structure_scores(model.conv2.weight, "Filters"), 20 / 64)
    assert weakest_filters(model, FilterGroup(("conv2",), 64), 20) == torch.nonzero(~keep).flatten().tolist()


def test_remove_weakest_thins_the_layer_and_the_next_layer_inputs():
    torch.manual_seed(0)
    model = build_model("digits_cnn", num_classes=10).eval()
    group = FilterGroup(("conv2",), 64)
    dropped = set(weakest_filters(model, group, 16))
    kept = [index for index in range(64) if index not in dropped]
    expected = model.conv2.weight.detach()[kept].clone()
    assert remove_weakest(model, EXAMPLE, group, 16) == 16
    assert output_channels(model, group) == 48 and model.bn2.num_features == 48
    assert model.conv3.weight.shape[1] == 48 and torch.equal(model.conv2.weight.detach(), expected)
