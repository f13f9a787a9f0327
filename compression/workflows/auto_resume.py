"""`compressor auto --resume DIR`: the run an interrupt left in DIR, rebuilt from its saved state.

The flags are the saved ones; a flag given again must say the same (else UserError, as for a
dense checkpoint that changed since). The search continues after its last completed round, and
a fine-tuning that had begun continues from its checkpoint.pt (see auto.finish).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from ..core.errors import UserError
from ..distributed import Ranks
from ..model_source import load_model
from .auto_config import check_config
from .auto_flags import config_from_flags, contradictions
from .auto_job import AutoJob, build_job
from .auto_state import STATE_FILE, file_digest, group_records, load_state


def resume_auto(folder: str, given: Dict[str, Any], out: Optional[str] = None, overwrite: bool = False,
                ranks: Ranks = Ranks()) -> AutoJob:
    """`given`: the flags given on the command line besides --resume (names as in auto_flags.FLAGS)."""
    path = Path(folder)
    if overwrite:
        raise UserError("give --resume (continue the run) or --overwrite (replace it), not both")
    if out is not None and Path(out).resolve() != path.resolve():
        raise UserError(f"--out {out}: a resumed run continues in its own folder, {folder}")
    state = load_state(path)
    if state.complete:
        raise UserError(f"nothing to resume: {folder} holds a finished `compressor auto` run (see its report.json)")
    problems = contradictions(state.flags, given)
    if problems:
        raise UserError(f"--resume {folder}: " + "; ".join(problems) + ". Leave these flags out to continue the "
                        f"run as it was started (its flags are in {STATE_FILE}), or start a new run with --out")
    config = config_from_flags(state.flags)
    check_config(config)
    _check_same_checkpoint(state.flags["checkpoint"], state.checkpoint_sha256)
    job = build_job(state.flags, config, load_model(state.flags["checkpoint"]), path, ranks=ranks)
    if group_records(job.space.groups) != state.groups:
        raise UserError(f"--resume {folder}: the filter groups to search are not the ones the run saved (a model "
                        "defined differently since?); start a new run")
    job.state = state
    return job


def _check_same_checkpoint(checkpoint: str, digest: str) -> None:
    if not Path(checkpoint).is_file():
        raise UserError(f"the dense checkpoint {checkpoint} the run started from is gone")
    if file_digest(Path(checkpoint)) != digest:
        raise UserError(f"the dense checkpoint {checkpoint} has changed since the run started from it; start a new "
                        "run")
