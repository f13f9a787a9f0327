"""How the ranges of a statistics file were used: by the simulated model, and by the real int8 model."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from .activation_plan import APPLIED, FUSED, ActivationLayout


def range_report(stats: Mapping, layout: ActivationLayout, int8_unused: Optional[Mapping[str, str]] = None
                 ) -> Dict[str, Any]:
    """`stats_ranges` (entries in the file), `ranges_applied` (how many quantize a tensor), `ranges_fused`
    (name -> why: a convolution's output before its folded BatchNorm, a ReLU fused into the operation
    before it, as Distiller folds and fuses them), `unused_ranges` (name -> why) and, given the int8
    model's unused ranges (by operation), `int8_unused_ranges` (stats name -> why)."""
    use = {name: layout.stats_use[name] for name in stats}
    report: Dict[str, Any] = {
        "stats_ranges": len(use),
        "ranges_applied": sum(kind == APPLIED for kind, _ in use.values()),
        "ranges_fused": {name: why for name, (kind, why) in use.items() if kind == FUSED},
        "unused_ranges": {name: why for name, (kind, why) in use.items() if kind not in (APPLIED, FUSED)},
    }
    if int8_unused is not None:
        report["int8_unused_ranges"] = {
            tensor.source: int8_unused[tensor.int8_name] for tensor in layout.tensors
            if tensor.int8_name in int8_unused and tensor.source in use}
    return report
