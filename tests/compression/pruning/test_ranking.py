import torch

from compressor.compression.pruning.ranking import magnitude_mask


def test_magnitude_mask_removes_exactly_the_smallest():
    weight = torch.tensor([[0.5, -0.1, 0.3], [-0.05, 0.9, -0.2]])
    keep = magnitude_mask(weight, 0.5)
    assert keep.tolist() == [[True, False, True], [False, True, False]]
    assert magnitude_mask(weight, 0.0).all()


def test_ties_at_the_threshold_go_in_position_order_as_a_stable_sort_would_take_them():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randint(-4, 5, (64, 50), generator=gen).float()  # 9 magnitudes: ties everywhere
    for sparsity in (0.1, 0.37, 0.5, 0.93):
        count = round(sparsity * weight.numel())
        expected = torch.ones(weight.numel(), dtype=torch.bool)
        expected[torch.argsort(weight.abs().flatten(), stable=True)[:count]] = False
        keep = magnitude_mask(weight, sparsity)
        assert torch.equal(keep.flatten(), expected) and int((~keep).sum()) == count
