"""The part of `compressor quantize`'s output about the statistics' ranges and the int8 model's fidelity."""
from __future__ import annotations

from typing import Any, Dict

from .common import console


def render_ranges(report: Dict[str, Any]) -> None:
    """How many of the stats file's ranges were used, the unused ones by name, the int8 model's FP32
    operations and its agreement with the simulated model."""
    if "stats_ranges" in report:
        fused = len(report["ranges_fused"])
        console.print(f"stats: {report['stats_ranges']} ranges, {report['ranges_applied'] + fused} used by the "
                      f"simulated model ({report['ranges_applied']} quantize a tensor, {fused} folded or fused away "
                      f"as Distiller does), {len(report['unused_ranges'])} not used", highlight=False)
        for name, why in report["unused_ranges"].items():
            console.print(f"  not used: {name} ({why})", highlight=False, soft_wrap=True)
    for name, why in report.get("int8_unused_ranges", {}).items():
        console.print(f"  not used by the int8 model: {name} ({why})", highlight=False, soft_wrap=True)
    for name, why in report.get("fp32_modules", {}).items():
        console.print(f"int8 model keeps {name} in FP32: {why}", highlight=False, soft_wrap=True)
    for name, why in report.get("int8_bit_changes", {}).items():
        console.print(f"int8 model differs from the QAT model at {name or 'the model input'}: {why}",
                      highlight=False, soft_wrap=True)
    if "simulated_top1_agreement" in report:
        reference = "the QAT model" if "qat_top1" in report else "simulated"
        console.print(f"int8 vs {reference}: top-1 agreement {100 * report['simulated_top1_agreement']:.1f}%, "
                      f"max abs diff {report['simulated_max_abs_diff']:.2e}", highlight=False)
