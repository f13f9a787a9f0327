"""`amc_state.pt`: an AMC search's snapshot beside auto_state.json, written after every episode.

It holds what auto_amc_search's snapshot holds: the searched groups, the settings and target, the
episodes so far and the agent (networks, optimizers, replay buffer, baseline, random generator).
It is replaced atomically and written before auto_state.json, so it is never behind it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import torch

from ..core.checkpoint import atomic_write
from ..core.errors import UserError

AMC_STATE_FILE = "amc_state.pt"
FORMAT = "compressor-amc-state"
VERSION = 1


def save_amc_state(folder: Path, snapshot: Dict[str, Any]) -> None:
    document = {"format": FORMAT, "version": VERSION, **snapshot}
    atomic_write(Path(folder) / AMC_STATE_FILE, lambda tmp: torch.save(document, tmp))


def load_amc_state(folder: Path) -> Dict[str, Any]:
    """The snapshot saved in `folder`; UserError when there is none or it is not one this release reads."""
    path = Path(folder) / AMC_STATE_FILE
    if not path.is_file():
        raise UserError(f"--resume {folder}: no {AMC_STATE_FILE} there, so the AMC search cannot continue (its agent "
                        "was saved with every episode); start a new run")
    try:
        document = torch.load(path, map_location="cpu", weights_only=True)
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise ValueError(f"format {document.get('format')!r} version {document.get('version')!r}")
    except Exception as err:  # a torn or foreign file: torch.load raises many kinds
        raise UserError(f"--resume {folder}: {AMC_STATE_FILE} cannot be read ({type(err).__name__}: {err})") from None
    return {key: value for key, value in document.items() if key not in ("format", "version")}
