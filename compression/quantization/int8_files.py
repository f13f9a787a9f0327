"""The deployable int8 TorchScript file: a frozen TorchScript program of the converted model.

A TorchScript file is code, not a checkpoint: it is what one ships to run the int8 model
(`torch.jit.load(path)` needs neither this project nor the model's Python class).
Checkpoints stay weights-only. The packed int8 weights belong to the engine they were
converted for (x86 by default), so the file is loaded and run under that engine.

The int8 ONNX file (QuantizeLinear/DequantizeLinear with the same scales) is written by
engines/qdq_onnx.py.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import torch

from ..core.checkpoint import atomic_write
from ..core.errors import UserError
from ..quiet import torch_deprecations_silenced
from .int8_backend import Int8Model, quantized_engine

PathLike = Union[str, Path]


def save_int8_torchscript(int8: Int8Model, example_inputs: Sequence[torch.Tensor], path: PathLike) -> int:
    """Trace and freeze the int8 module, write it atomically to `path`; returns the file's size in bytes."""
    with quantized_engine(int8.engine), torch.no_grad(), torch_deprecations_silenced():
        traced = torch.jit.trace(int8.module, tuple(example_inputs))
        frozen = torch.jit.freeze(traced.eval())
        atomic_write(path, lambda tmp: torch.jit.save(frozen, tmp))
    return file_bytes(path)


def load_int8_torchscript(path: PathLike, engine: str = "x86") -> torch.jit.ScriptModule:
    """Load a file written by `save_int8_torchscript` (with `engine` set, as its weights need)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"int8 model file not found: {path}")
    with quantized_engine(engine), torch_deprecations_silenced():
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as err:
            raise UserError(f"{path} is not a TorchScript file: {str(err).strip().splitlines()[0]}") from None


def file_bytes(path: PathLike) -> int:
    return os.path.getsize(path)
