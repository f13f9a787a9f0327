import pytest
import torch

from compressor.compression.core.errors import UserError
from compressor.compression.pruning.structures import (check_group_type, expand_structure_mask, lowest_k_mask,
                                                       structure_scores)


@pytest.mark.parametrize("group_type, count", [("Filters", 8), ("Channels", 4), ("2D", 32), ("4D", 1)])
def test_conv_structures_round_trip(group_type, count):
    weight = torch.randn(8, 4, 3, 3)
    scores = structure_scores(weight, group_type)
    assert scores.numel() == count
    keep = lowest_k_mask(scores, 0.5) if count > 1 else torch.tensor([True])
    mask = expand_structure_mask(keep, weight, group_type)
    assert mask.shape == weight.shape
    if group_type == "Filters":
        dropped = (~keep).nonzero().flatten()
        assert not mask[dropped].any() and mask[keep].all()
        assert set(dropped.tolist()) == set(scores.argsort()[:4].tolist())
    if group_type == "Channels":
        assert (~mask).all(dim=(0, 2, 3)).sum() == 2


def test_rows_cols_and_blocks_of_a_linear_weight():
    weight = torch.randn(6, 8)
    keep = torch.tensor([True, False, True, True, False, True])
    assert not expand_structure_mask(keep, weight, "Rows")[1].any()
    cols = expand_structure_mask(torch.tensor([False] + [True] * 7), weight, "Cols")
    assert not cols[:, 0].any() and cols[:, 1:].all()
    blocks = structure_scores(weight, "Blocks", block_shape=[2, 4])
    assert blocks.numel() == 6
    assert torch.allclose(blocks[0], weight[:2, :4].abs().mean())
    mask = expand_structure_mask(torch.tensor([False, True, True, True, True, True]), weight, "Blocks", [2, 4])
    assert not mask[:2, :4].any() and mask[2:].all() and mask[:2, 4:].all()


def test_group_type_that_does_not_fit_the_weight():
    with pytest.raises(UserError, match="'Filters' needs a 4-D weight, but fc.weight is a Linear weight"):
        check_group_type("Filters", torch.randn(3, 4), "fc.weight")
    with pytest.raises(UserError, match="does not divide"):
        check_group_type("Blocks", torch.randn(6, 8), "fc.weight", block_shape=[4, 4])


def test_never_removes_every_structure():
    assert lowest_k_mask(torch.rand(4), 0.99).sum() == 1
