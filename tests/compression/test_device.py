import pytest
import torch

from compressor.compression import device
from compressor.compression.core.errors import UserError


def test_default_threads_are_the_cores_this_process_may_use_shared_with_torchrun_peers(monkeypatch):
    monkeypatch.setattr(device, "available_cores", lambda: 4)
    torch.set_num_threads(8)
    assert device.use_threads() == 4 and torch.get_num_threads() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    torch.set_num_threads(8)
    assert device.use_threads() == 2 and torch.get_num_threads() == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert device.use_threads() == 1


def test_threads_asked_for_are_set_and_fewer_than_one_refused():
    assert device.use_threads(1) == 1 and torch.get_num_threads() == 1
    with pytest.raises(UserError, match="--threads must be at least 1, got 0"):
        device.use_threads(0)
