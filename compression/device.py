"""The device a command runs on (cpu, cuda, cuda:N, or auto: CUDA when there is one), and the
CPU cores this process may use."""
from __future__ import annotations

import os
from typing import Optional

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


def use_threads(threads: Optional[int] = None) -> int:
    """Set torch's CPU threads: `threads`, or by default the cores this process may use, shared with
    the other processes torchrun started on this machine (more threads than cores only compete)."""
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    if threads is None:
        local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
        threads = max(1, min(torch.get_num_threads(), available_cores() // local_processes))
    torch.set_num_threads(threads)
    return threads
