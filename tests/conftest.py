import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py


@pytest.fixture(autouse=True)
def _two_threads():
    """Keep each test to the CI machine's two cores."""
    torch.set_num_threads(2)
    yield
