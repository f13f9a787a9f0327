"""The early-exit table of `compressor evaluate`: where images leave, how accurate, how much faster."""
from __future__ import annotations

from typing import Any, Dict

from .common import console, print_measurement_warnings, render_table, speedup_text


def render_early_exit(report: Dict[str, Any]) -> None:
    thresholds = [f"{value:g}" for value in report["thresholds"]] + ["-"]
    rows = []
    for index, name in enumerate(report["exits"]):
        top1 = report["exit_top1"][index]
        rows.append((name, thresholds[index], f"{report['exit_counts'][index]:,}",
                     f"{report['exit_shares'][index]:.1%}", "-" if top1 is None else f"{top1:.2f}%",
                     f"{report['exit_top1_all'][index]:.2f}%"))
    footer = ("all", "", f"{report['samples']:,}", "100.0%", f"{report['top1']:.2f}%", "")
    render_table("early exit (an image leaves at the first exit whose softmax entropy is below its threshold)",
                 ["exit", "threshold", "images", "share", "top-1 of those leaving", "top-1 of all images"],
                 rows, footer)
    timing = report["timing"]
    console.print(f"top-1 with exits taken {report['top1']:.2f}% vs {report['final_top1']:.2f}% through the final "
                  f"exit alone", highlight=False)
    if "weighted_loss" in report:
        console.print(f"weighted loss (training objective) {report['weighted_loss']:.4f}", highlight=False)
    console.print(f"measured on {timing['timed_images']:,} images ({timing['timed_batches']} batches, "
                  f"{timing['early_exit']['repeats']} interleaved rounds): full model "
                  f"{timing['full']['median_ms']:.1f} ms, early exit {timing['early_exit']['median_ms']:.1f} ms "
                  f"(medians); speed-up {speedup_text(timing)}", highlight=False, soft_wrap=True)
    print_measurement_warnings(timing)
