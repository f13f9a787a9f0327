import pytest

from compressor.compression.pruning.agp_rate import agp_target


def test_agp_follows_distillers_cubic_rate():
    due = tuple(range(0, 30, 2))  # starting_epoch 0, ending_epoch 30, frequency 2: span 28
    assert agp_target(0.05, 0.8, 0, due) == pytest.approx(0.05)
    assert agp_target(0.05, 0.8, 14, due) == pytest.approx(0.8 + (0.05 - 0.8) * (1 - 14 / 28) ** 3)
    assert agp_target(0.05, 0.8, 28, due) == pytest.approx(0.8)
    targets = [agp_target(0.05, 0.8, e, due) for e in due]
    assert targets == sorted(targets)
