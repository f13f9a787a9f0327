"""Models with zeroed filter groups, shared by the thinning and workflow tests."""
import pytest
import torch

from compressor.compression.models import build_model
from compressor.compression.thinning import zero_weakest_filter_groups
from helpers import give_batchnorms_statistics


@pytest.fixture
def batchnorm_statistics():
    return give_batchnorms_statistics


@pytest.fixture
def masked_model():
    """build(arch, input_size) -> (model in eval mode with half of each filter group zeroed, example input)."""

    def build(arch: str, size: int, fraction: float = 0.5, num_classes: int = 10):
        torch.manual_seed(0)
        model = build_model(arch, num_classes=num_classes).eval()
        give_batchnorms_statistics(model)
        channels = 1 if arch in ("digits_cnn", "simplenet_mnist") else 3
        example = torch.zeros(1, channels, size, size)
        zero_weakest_filter_groups(model, example, fraction)
        return model, example

    return build
