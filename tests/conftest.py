import pytest
import torch


@pytest.fixture(autouse=True)
def _two_threads():
    """Keep each test to the CI machine's two cores."""
    torch.set_num_threads(2)
    yield
