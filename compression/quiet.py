"""Silence torch's deprecation notices for the tools we deliberately use (FX quantization,
torch.jit, the TorchScript-based ONNX exporter): they repeat on every call and tell a user
nothing they can act on."""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


@contextmanager
def torch_deprecations_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao\..*")
        yield


class CallableModule(nn.Module):
    """Any callable (an int8 model, a TorchScript program) as an nn.Module, to evaluate or time it."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, *inputs):
        return self.function(*inputs)
