"""The run folder: checkpoints, metrics.jsonl, TensorBoard events and a copy of the schedule."""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from threadpoolctl import ThreadpoolController
from torch import nn

from ..core.checkpoint import atomic_write, save_checkpoint
from ..core.errors import UserError
from ..sparsity import layer_sparsities, prunable_weights


def _if_writing(method):
    """The method does nothing in a process that does not write (every process but the first)."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if self.writes:
            method(self, *args, **kwargs)
    return guarded


def check_run_folder(path: Path, resume: Optional[str], overwrite: bool, schedule_text: Optional[str] = None) -> None:
    """Refuse to write a run into a folder that already holds something, unless it is the folder of
    the checkpoint being resumed, or `overwrite` says to move it aside first (`move_aside`), or it
    holds only the schedule.yaml a run of `schedule_text` writes first (a run of this schedule that
    stopped before its first checkpoint: writing it again loses nothing)."""
    if resume and overwrite:
        raise UserError("give --resume (continue the run) or --overwrite (replace it), not both")
    if overwrite or not path.exists():
        return
    if not path.is_dir():
        raise UserError(f"--out {path} is a file, not a folder")
    if resume and path.resolve() == Path(resume).resolve().parent:
        return
    if not any(path.iterdir()) or _holds_only_schedule(path, schedule_text):
        return
    checkpoint = path / "checkpoint.pt"
    if not checkpoint.is_file():
        resume_hint = ""
    elif schedule_text is not None and not _holds_schedule(path, schedule_text):
        resume_hint = "a run of another schedule (its schedule.yaml differs from this one), "
    else:
        resume_hint = f"continue it with --resume {checkpoint}, "
    raise UserError(f"--out {path} already holds a run (or other files): {resume_hint}replace it with --overwrite, "
                    f"or choose another --out")


def _holds_only_schedule(path: Path, schedule_text: Optional[str]) -> bool:
    if schedule_text is None or [entry.name for entry in path.iterdir()] != ["schedule.yaml"]:
        return False
    return _holds_schedule(path, schedule_text)


def _holds_schedule(path: Path, schedule_text: str) -> bool:
    try:
        return (path / "schedule.yaml").read_text(encoding="utf-8") == schedule_text
    except (OSError, UnicodeDecodeError):  # a folder or unreadable file of that name: not a copy of ours
        return False


def folder_name(text: str) -> str:
    """`text` (a model name: `timm/resnet18`, `mynet:MyNet`) as one folder name: characters other than
    letters, digits, `.`, `_` and `-` become `_` (a `/` would nest folders, a `:` breaks scp and Windows)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def move_aside(path: Path) -> Optional[Path]:
    """Rename an existing, non-empty `path` to `<path>.replaced-<timestamp>` in one step; returns the new name."""
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.replaced-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.replaced-{stamp}-{number}")
    os.replace(path, target)
    return target


class RunFolder:
    """Where a run writes. With several processes only the first one writes (`writes`)."""

    def __init__(self, path: Path, write_tensorboard: bool = True, writes: bool = True):
        self.path = Path(path)
        self.writes = writes
        if writes:
            self.path.mkdir(parents=True, exist_ok=True)
        self._write_tensorboard = write_tensorboard and writes
        self._writer = None

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def best_path(self) -> Path:
        return self.path / "best.pt"

    @_if_writing
    def write_schedule(self, text: str) -> None:
        atomic_write(self.path / "schedule.yaml", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    @_if_writing
    def save(self, payload: Dict[str, Any], best: bool) -> None:
        save_checkpoint(payload, self.checkpoint_path)
        if best:
            atomic_write(self.best_path, lambda tmp: shutil.copyfile(self.checkpoint_path, tmp))

    @_if_writing
    def log_epoch(self, record: Dict[str, Any], model: nn.Module) -> None:
        # TensorBoard goes through numpy; OpenBLAS threads left spinning after it slow the
        # next epoch's torch threads on small machines, so numpy gets one thread here.
        with _blas_controller().limit(limits=1, user_api="blas"):
            self._log_epoch(record, model)

    def _log_epoch(self, record: Dict[str, Any], model: nn.Module) -> None:
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")
        writer = self._tensorboard()
        if writer is None:
            return
        epoch = record["epoch"]
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)):
                writer.add_scalar(_scalar_tag(key), value, epoch)
        for name, value in layer_sparsities(model).items():
            writer.add_scalar(f"sparsity/{name}", value, epoch)
        for name, weight in prunable_weights(model):
            _add_histogram(writer, f"weights/{name}", weight.detach(), epoch)
        writer.flush()

    @_if_writing
    def write_json(self, name: str, data: Dict[str, Any]) -> None:
        text = json.dumps(data, indent=2)
        atomic_write(self.path / name, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    @_if_writing
    def truncate_metrics(self, epochs_done: int) -> None:
        """On resume, drop metric lines written after the checkpoint being resumed."""
        metrics = self.path / "metrics.jsonl"
        if not metrics.exists():
            return
        kept = [line for line in metrics.read_text(encoding="utf-8").splitlines()
                if _epoch_of(line) < epochs_done]
        atomic_write(metrics, lambda tmp: Path(tmp).write_text("".join(l + "\n" for l in kept), encoding="utf-8"))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _tensorboard(self) -> Optional[Any]:
        if self._writer is None and self._write_tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.path))
        return self._writer


_NOT_A_RECORD = 1 << 62  # sorts after every epoch, so truncation drops it


def _epoch_of(line: str) -> int:
    """The epoch of a metrics line; a line torn by a crash in the middle of an append is not a record."""
    try:
        record = json.loads(line)
    except ValueError:
        return _NOT_A_RECORD
    return record.get("epoch", _NOT_A_RECORD) if isinstance(record, dict) else _NOT_A_RECORD


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _add_histogram(writer, tag: str, values, step: int, bins: int = 64) -> None:
    """Histogram computed by torch: far cheaper than TensorBoard's numpy path with its ~1500 buckets."""
    values = values.flatten().float().cpu()
    low, high = (bound.item() for bound in torch.aminmax(values))
    high = max(high, low + 1e-12)
    counts = torch.histc(values, bins, low, high)
    edges = torch.linspace(low, high, bins + 1)[1:]
    writer.add_histogram_raw(tag, min=low, max=high, num=values.numel(), sum=values.sum().item(),
                             sum_squares=values.square().sum().item(), bucket_limits=edges.tolist(),
                             bucket_counts=counts.tolist(), global_step=step)


def _scalar_tag(key: str) -> str:
    if key.endswith("_loss"):
        return f"loss/{key[:-5]}"
    if key in ("top1", "top5"):
        return f"accuracy/{key}"
    return key
