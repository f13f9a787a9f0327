"""The device a command runs on: cpu, cuda, cuda:N, or auto (CUDA when there is one)."""
from __future__ import annotations

import torch

from .core.errors import UserError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device '{name}' requested but CUDA is not available here (use --device cpu)")
    return torch.device(name)
