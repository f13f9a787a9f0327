import torch

from compressor.compression.pruning.ranking import magnitude_mask


def test_magnitude_mask_removes_exactly_the_smallest():
    weight = torch.tensor([[0.5, -0.1, 0.3], [-0.05, 0.9, -0.2]])
    keep = magnitude_mask(weight, 0.5)
    assert keep.tolist() == [[True, False, True], [False, True, False]]
    assert magnitude_mask(weight, 0.0).all()
