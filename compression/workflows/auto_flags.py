"""`auto`'s flags as one record: the run folder keeps it, and `--resume` checks the flags given against it.

The names are the command's own (`finetune_epochs` is --finetune-epochs). `recorded_flags` writes
each value in one canonical form (the checkpoint and data folder as absolute paths, the target as
KIND=RATIO), so a flag given again with the same meaning matches whatever its spelling.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from ..core.errors import UserError
from .auto_config import AmcOptions, AutoConfig, LatencyOptions, parse_target

FLAGS = ("checkpoint", "target", "tolerance", "strategy", "step", "hold_out", "finetune_epochs", "lr", "round_steps",
         "calibration_batches", "eval_samples", "batch_size", "latency_repeats", "data_dir", "device", "amc_episodes",
         "amc_warmup", "amc_min_keep", "amc_file")
REQUIRED = ("checkpoint", "target", "tolerance")


def _path(value: Optional[str]) -> Optional[str]:
    return None if value is None else str(Path(value).resolve())


def _number(value: Any) -> Any:
    return None if value is None else float(value)


_CANONICAL = {"checkpoint": _path, "data_dir": _path, "target": lambda value: str(parse_target(value)),
              "hold_out": lambda value: list(value or ()), "tolerance": _number, "step": _number, "lr": _number,
              "strategy": lambda value: (value or "").strip().lower(), "amc_min_keep": _number, "amc_file": _path}


def recorded_flags(flags: Dict[str, Any]) -> Dict[str, Any]:
    """Every flag of FLAGS in canonical form; UserError when --checkpoint, --target or --tolerance is missing."""
    missing = [name for name in REQUIRED if flags.get(name) is None]
    if missing:
        shown = ", ".join("--" + name for name in missing)
        raise UserError(f"give {shown} (or --resume DIR to continue an interrupted `compressor auto` run)")
    recorded = {name: _CANONICAL.get(name, lambda value: value)(flags.get(name)) for name in FLAGS}
    if recorded["strategy"] == "amc":  # the defaults written out: --amc-episodes 100 says what leaving it out says
        amc = _amc_options(recorded).resolved()
        recorded.update(amc_episodes=amc.episodes, amc_warmup=amc.warmup, amc_min_keep=_number(amc.min_keep))
    return recorded


def config_from_flags(flags: Dict[str, Any]) -> AutoConfig:
    return AutoConfig(parse_target(flags["target"]), float(flags["tolerance"]), flags["strategy"], float(flags["step"]),
                      tuple(flags["hold_out"] or ()), flags["finetune_epochs"], flags["lr"],
                      flags["calibration_batches"], flags["round_steps"], flags["eval_samples"],
                      LatencyOptions(flags["batch_size"], flags["latency_repeats"]), flags["device"],
                      _amc_options(flags))


def _amc_options(flags: Dict[str, Any]) -> AmcOptions:
    """The --amc-* flags (absent from the state of a run saved before they existed)."""
    return AmcOptions(flags.get("amc_episodes"), flags.get("amc_warmup"), flags.get("amc_min_keep"),
                      flags.get("amc_file"))


def contradictions(saved: Dict[str, Any], given: Dict[str, Any]) -> List[str]:
    """The flags given on the command line that say otherwise than the saved run, in words."""
    merged = recorded_flags({**saved, **given})
    return [f"--{name.replace('_', '-')} {_shown(merged[name])} (the run has {_shown(saved.get(name))})"
            for name in FLAGS if name in given and merged[name] != saved.get(name)]


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(value) if value else "none"
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
