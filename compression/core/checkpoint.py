"""Checkpoint files: atomic writes, weights-only loads, a versioned format.

What a checkpoint holds is plain data (tensors, numbers, text, lists and dicts of them), so that
every later release can read it: rebuilding a model from it is `compression.restore`'s job.
"""
from __future__ import annotations

import errno
import io
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, Union

import torch

from .checkpoint_migrations import FORMAT_VERSION, upgrade
from .errors import UserError
from .packed import PackedFileError, is_packed, unpack_with_records

FORMAT = "compressor-checkpoint"


def atomic_write(path: Union[str, Path], write) -> None:
    """Call write(file_path) on a temporary file beside `path`, then rename it over `path`.

    The data reach the disk before the rename, and the rename before returning, so after a
    crash or a power loss `path` holds the old file or the new one, never a torn one. The file
    gets the mode a plain open() would give it, not the temporary file's private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_current_umask())
        _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _current_umask() -> int:
    """The process's umask, read from /proc where Linux shows it (reading it elsewhere means
    setting it for a moment, which another thread creating a file could notice)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


def saved_bytes(state: Dict[str, Any]) -> int:
    """Bytes `torch.save(state)` writes: the one measure of a weights file's size (written to memory, as a
    file's archive would also count its name's length)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.tell()


def save_checkpoint(payload: Dict[str, Any], path: Union[str, Path]) -> None:
    """Write `payload` atomically, marked with this release's format and format version.

    A payload without a `qat` record gets an empty one: its model has no QAT quantizers.
    """
    marked = {"qat": [], **payload, "format": FORMAT, "format_version": FORMAT_VERSION}
    atomic_write(path, lambda tmp: torch.save(marked, tmp))


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load with weights_only=True (a file that would need to run code to load is refused) and
    bring a payload of an earlier format version up to this release's."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    if is_packed(path):
        return upgrade(_unpacked_payload(path), str(path))
    if not zipfile.is_zipfile(path):
        raise UserError(f"cannot read checkpoint {path}: not a PyTorch checkpoint file or a packed model file")
    _refuse_programs(path)
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
    return upgrade(payload, str(path))


_PROGRAMS = {"archive_format": ("a torch.export program (.pt2)", "torch.export.load(path).module()"),
             "constants.pkl": ("a TorchScript program", "torch.jit.load(path)")}


def _refuse_programs(path: Path) -> None:
    """A deployable program (quantize's model_int8.pt2 / model_int8.pt, export's files) is not a checkpoint:
    said as such, not as a corrupted or unsafe file."""
    with zipfile.ZipFile(path) as archive:
        entries = {name.split("/", 1)[-1] for name in archive.namelist()}
    for entry, (kind, load) in _PROGRAMS.items():
        if entry in entries:
            raise UserError(f"{path} is {kind}, not a checkpoint: run it with {load}; the commands read "
                            "checkpoints and packed files (`quantize --pack` writes the int8 model as model_int8.cpk)")


def _unpacked_payload(path: Path) -> Dict[str, Any]:
    """A packed model file as the checkpoint payload it was packed from (model and record, no training state)."""
    data = path.read_bytes()
    try:
        state, meta, tensors = unpack_with_records(data, str(path))
    except PackedFileError as err:
        raise UserError(str(err)) from None
    if meta.get("format") != FORMAT:
        raise UserError(f"{path} is a packed file but not of a compressor model (no '{FORMAT}' record)")
    return {**meta, "model_state": state, "packed": {"file_bytes": len(data), "tensors": tensors}}


def load_resumable_checkpoint(path: Union[str, Path]) -> Dict[str, Any]:
    """A checkpoint to continue training from: a packed model file holds no training state and is refused."""
    payload = load_checkpoint(path)
    if "packed" in payload:
        raise UserError(f"{path} is a packed model file: it keeps the model but no training state (optimizer, "
                        "policies, schedule), so a run cannot resume from it; start a new run from it with "
                        "--checkpoint, or resume from the run's checkpoint.pt")
    return payload
