"""`auto_state.json`: what `compressor auto --resume DIR` continues from, written after every round.

It holds the flags the run was started with (`flags`, as `auto_flags.recorded_flags` writes them),
a digest of the dense checkpoint, the searched groups, the completed rounds with the groups that
failed to thin so far, and, once the search has ended, how it ended (`search_end`). The file is
replaced atomically, so an interrupt or a crash leaves the last completed round. An AMC search
keeps its episodes as rounds here, and its agent beside this file (auto_amc_state.py).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..core.checkpoint import atomic_write
from ..core.errors import UserError
from .auto_amc_result import amc_result
from .auto_greedy import Round, SearchResult
from .auto_space import FilterGroup

STATE_FILE = "auto_state.json"
FORMAT = "compressor-auto-state"
VERSION = 1


@dataclass
class AutoState:
    flags: Dict[str, Any]
    checkpoint_sha256: str
    groups: List[Dict[str, Any]]  # {"layers": [...], "channels": N} per searched group
    rounds: List[Round] = field(default_factory=list)
    left_out: Dict[str, str] = field(default_factory=dict)
    search_end: Optional[Dict[str, Any]] = None  # {"target_reached", "stopped_because"[, "amc"]} once it ended
    complete: bool = False  # the fine-tuning and the report are written too

    def result(self) -> SearchResult:
        """The ended search (search_end must be set)."""
        end = self.search_end or {}
        if "amc" in end:
            return amc_result(list(self.rounds), float(end["amc"]["target"]), int(end["amc"]["warmup"]),
                              dict(self.left_out))
        return SearchResult(list(self.rounds), bool(end["target_reached"]), end["stopped_because"],
                            dict(self.left_out))


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def group_records(groups: Sequence[FilterGroup]) -> List[Dict[str, Any]]:
    return [{"layers": list(group.layers), "channels": group.channels} for group in groups]


def round_record(r: Round) -> Dict[str, Any]:
    return {"round": r.number, "layer": r.layer, "ratio": r.ratio, "val_top1": r.top1, "channels": r.channels,
            "candidates": r.candidates, "seconds": round(r.seconds, 3)}


def round_from_record(record: Dict[str, Any]) -> Round:
    return Round(int(record["round"]), record["layer"], float(record["ratio"]), float(record["val_top1"]),
                 {layer: int(count) for layer, count in record["channels"].items()}, int(record["candidates"]),
                 float(record["seconds"]))


def save_state(folder: Path, state: AutoState) -> None:
    document = {"format": FORMAT, "version": VERSION, "flags": state.flags,
                "checkpoint_sha256": state.checkpoint_sha256, "groups": state.groups,
                "rounds": [round_record(r) for r in state.rounds], "left_out": state.left_out,
                "search_end": state.search_end, "complete": state.complete}
    text = json.dumps(document, indent=1)
    atomic_write(Path(folder) / STATE_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def load_state(folder: Path) -> AutoState:
    """The state in `folder`; UserError when there is none or it is not one this release reads."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise UserError(f"--resume {folder}: no {STATE_FILE} there, so no `compressor auto` run to continue "
                        "(give the run folder an interrupted `auto` wrote)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise ValueError(f"format {document.get('format')!r} version {document.get('version')!r}")
        return AutoState(dict(document["flags"]), document["checkpoint_sha256"], list(document["groups"]),
                         [round_from_record(r) for r in document["rounds"]], dict(document["left_out"]),
                         document.get("search_end"), bool(document.get("complete")))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"--resume {folder}: {path.name} cannot be read ({type(err).__name__}: {err})") from None
