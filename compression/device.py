"""The device a command runs on (cpu, cuda, cuda:N, or auto: CUDA when there is one), and the
CPU cores this process may use."""
from __future__ import annotations

import os

import torch

from .core.errors import UserError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device '{name}' requested but CUDA is not available here (use --device cpu)")
    return torch.device(name)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity), not all the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
