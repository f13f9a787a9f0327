import pytest
import torch
from helpers import one_thread


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread, so a busy two-core machine's thread contention cannot slow them down."""
    with one_thread():
        yield


@pytest.fixture
def digits_batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 1, 8, 8, generator=generator), torch.randint(0, 10, (16,), generator=generator)
