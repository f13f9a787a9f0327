import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py


THREADS = min(2, int(os.environ.get("OMP_NUM_THREADS") or 2))


@pytest.fixture(autouse=True)
def _two_threads():
    """Keep each test to the CI machine's two cores (or fewer: OMP_NUM_THREADS=1 on a shared machine)."""
    torch.set_num_threads(THREADS)
    yield
