"""Checkpoint files: atomic writes, weights-only loads, models rebuilt from their arch name."""
from __future__ import annotations

import errno
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch

from .errors import UserError

FORMAT = "compressor-checkpoint"


def atomic_write(path: Union[str, Path], write) -> None:
    """Call write(file_path) on a temporary file beside `path`, then rename it over `path`.

    The data reach the disk before the rename, and the rename before returning, so after a
    crash or a power loss `path` holds the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _fsync(path: Union[str, Path], flags: int) -> None:
    try:
        fd = os.open(path, flags)
    except OSError:  # a folder cannot be opened on some platforms (Windows): nothing to sync there
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # syncing not supported there
            raise
    finally:
        os.close(fd)


def save_checkpoint(payload: Dict[str, Any], path: Union[str, Path]) -> None:
    atomic_write(path, lambda tmp: torch.save({"format": FORMAT, **payload}, tmp))


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load with weights_only=True: a file that would need to run code to load is refused."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise UserError(f"cannot read checkpoint {path}: not a PyTorch checkpoint file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsupported content"
        raise UserError(f"refused to load {path}: it is not a weights-only checkpoint "
                        f"(it would need to run code to load: {first})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise UserError(f"cannot read checkpoint {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path} is not a compressor checkpoint (no '{FORMAT}' marker); "
                        "it may be a bare state_dict")
    return payload


def model_from_checkpoint(payload: Dict[str, Any]) -> Tuple[torch.nn.Module, Any]:
    """Rebuild the model named in the checkpoint (thinned as recorded, with its QAT quantizers) with its weights."""
    from .models import build_model, model_info

    arch = payload.get("arch")
    info = model_info(arch)
    model = build_model(arch, num_classes=payload.get("num_classes"))
    restore_structure(model, payload, info.input_shape)
    try:
        model.load_state_dict(payload["model_state"])
    except (RuntimeError, KeyError) as err:
        raise UserError(f"checkpoint weights do not fit model '{arch}': {str(err).splitlines()[0]}") from None
    from .quantization.qat import install_from_checkpoint

    install_from_checkpoint(model, payload)  # a QAT model evaluates with its quantizers, as it was trained
    return model, info


def restore_structure(model: torch.nn.Module, payload: Dict[str, Any], input_shape) -> None:
    """Thin a freshly built model as the checkpoint records, so that its weights fit."""
    if payload.get("thinning"):
        from .thinning.replay import apply_plan

        apply_plan(model, payload["thinning"], torch.zeros(1, *input_shape))
