"""A model run by an engine other than PyTorch, called like a module (to evaluate, compare or time it)."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn


class EngineModel(nn.Module):
    """Runs `run` (a NumPy batch in, the output as an array out) on tensors; it has no parameters of its own.

    `details` keeps what the engine made of the file (its session or compiled model), for reports.
    """

    def __init__(self, engine: str, path: str, run: Callable[[np.ndarray], np.ndarray],
                 input_dims: Sequence[Optional[int]], **details: Any):
        super().__init__()
        self.engine, self.path, self._run = engine, path, run
        self.input_dims = list(input_dims)  # the file's input shape, None where a dimension is dynamic
        self.details: Dict[str, Any] = details

    def accepts(self, shape: Sequence[int]) -> bool:
        """Whether the file's declared input shape admits a batch of `shape`."""
        return len(shape) == len(self.input_dims) and all(
            dim is None or dim == size for dim, size in zip(self.input_dims, shape))

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self._run(batch.detach().cpu().contiguous().numpy())))
