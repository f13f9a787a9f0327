"""`compressor quantize --lapq` and its knobs (Distiller's --qe-lapq / --lapq-* flags)."""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional

import click

from ..compression.core.errors import UserError
from ..compression.quantization.lapq_settings import INIT_MODES, LapqSettings
from .common import console


def lapq_options(func: Callable) -> Callable:
    """The --lapq flags, handed to the command as one `lapq` argument (LapqSettings, or None without --lapq)."""
    @functools.wraps(func)
    def with_lapq(*args, lapq, lapq_init_mode, lapq_maxiter, lapq_maxfev, lapq_eval_size, **kwargs):
        settings = LapqSettings(lapq_init_mode, lapq_maxiter, lapq_maxfev, lapq_eval_size) if lapq else None
        return func(*args, lapq=settings, **kwargs)

    options = [
        click.option("--lapq", is_flag=True,
                     help="Loss-aware PTQ (Distiller's --qe-lapq): search the weight and activation clipping of "
                          "all layers together for the least loss on the calibration images."),
        click.option("--lapq-init-mode", type=click.Choice(INIT_MODES), default="L3", show_default=True,
                     help="LAPQ's starting clips: each tensor's least Lp error (L1-L3), or a clip mode."),
        click.option("--lapq-maxiter", type=click.IntRange(min=1), default=2, show_default=True,
                     help="Powell iterations of the LAPQ search."),
        click.option("--lapq-maxfev", type=click.IntRange(min=1), help="Most loss evaluations of the LAPQ search."),
        click.option("--lapq-eval-size", type=click.IntRange(min=1),
                     help="Calibration images the LAPQ loss is measured on (default: all of them)."),
    ]
    for option in reversed(options):
        with_lapq = option(with_lapq)
    return with_lapq


def check_lapq_flags(lapq: Optional[LapqSettings], collect_stats: Optional[str], tolerance: Optional[float],
                     qat_checkpoint: bool) -> None:
    """--lapq with flags it cannot go with: a clear UserError before any work."""
    if lapq is None:
        return
    if collect_stats:
        raise UserError("--lapq quantizes, --collect-stats only writes statistics: run them one at a time")
    if tolerance is not None:
        raise UserError("--lapq and --tolerance are two searches of the clipping: choose one")
    if qat_checkpoint:
        raise UserError("--lapq searches the clipping of post-training quantization; this checkpoint was trained "
                        "with QAT quantizers, whose ranges it has learned: quantize it without --lapq")


def render_lapq(summary: Dict[str, Any]) -> None:
    console.print(f"LAPQ (start {summary['init_mode']}): loss on {summary['images']} calibration images "
                  f"{summary['initial_loss']:.4g} -> {summary['loss']:.4g} (FP32 {summary['fp32_loss']:.4g}), "
                  f"{summary['evaluations']} evaluations, {summary['seconds']} s", highlight=False)
