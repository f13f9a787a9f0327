"""Silence torch's deprecation notices for the tools we deliberately use (FX quantization,
torch.jit, the TorchScript-based ONNX exporter): they repeat on every call and tell a user
nothing they can act on; and the exporter's graph dump on stdout when an export fails."""
from __future__ import annotations

import os
import sys
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


@contextmanager
def stdout_discarded() -> Iterator[None]:
    """Discard what is written to the process's stdout (file descriptor 1, C++ writes included) in the block.

    torch's TorchScript ONNX exporter prints its whole graph to stdout from C++ when an export fails,
    even with verbose=False (its logging switch is always turned on), and stdout carries `--json`
    output; torch has no switch for it, hence the descriptor is redirected by hand.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


class CallableModule(nn.Module):
    """Any callable (an int8 model, a TorchScript program) as an nn.Module, to evaluate or time it."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, *inputs):
        return self.function(*inputs)
