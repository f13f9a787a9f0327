"""The part of quantize's, benchmark's, train's and auto's output about engines: speed-ups against the fastest
FP32 engine, `--engine auto`'s choice, and each engine's int8 model checked against the simulated one."""
from __future__ import annotations

from typing import Any, Dict, List

from ..compression.engines.registry import ENGINES, FP32_LABELS
from .common import console


def vs_fp32_text(result: Dict[str, Any]) -> str:
    """`5.90x vs PyTorch eager FP32, 1.60x vs OpenVINO FP32 (fastest FP32 engine here)`; a speed-up whose
    interval holds 1.0 reads `no measurable difference`."""
    fastest = result["fastest_fp32_engine"]
    text = f"{_speedup(result)} vs {FP32_LABELS['torch']}"
    if fastest == "torch":
        return text + " (fastest FP32 engine here)"
    return f"{text}, {_speedup(result['vs_fastest_fp32'])} vs {result['fastest_fp32_label']} (fastest FP32 engine here)"


def _speedup(ratio: Dict[str, Any]) -> str:
    return f"{ratio['speedup']:.2f}x" if ratio["speedup_measurable"] else "no measurable difference"


def fp32_engines_text(result: Dict[str, Any]) -> str:
    return ", ".join(f"{FP32_LABELS[name]} {ms:.2f} ms" for name, ms in result["fp32_engines_latency_ms"].items())


def fp32_skipped_lines(result: Dict[str, Any]) -> List[str]:
    """`OpenVINO FP32 not timed: no FP32 ONNX file: ...`, one line for each FP32 engine left out."""
    return [f"{FP32_LABELS[name]} not timed: {why}" for name, why in result.get("fp32_engines_skipped", {}).items()]


def render_fp32_skipped(result: Dict[str, Any]) -> None:
    for line in fp32_skipped_lines(result):
        console.print(f"[yellow]note:[/] {line}", highlight=False, soft_wrap=True)


def render_vs_fp32(subject: str, result: Dict[str, Any], fp32_model: str = "FP32") -> None:
    """`{subject}: 1.40x vs PyTorch eager FP32, 0.82x vs onnxruntime FP32 (fastest FP32 engine here); {fp32_model}
    medians: ...`, then the engines left out, with why (train's and auto's reports)."""
    if result.get("vs_fastest_fp32") is None:
        return
    console.print(f"{subject}: {vs_fp32_text(result)}; {fp32_model} medians: "
                  f"{fp32_engines_text(result)}", highlight=False, soft_wrap=True)
    render_fp32_skipped(result)


def render_engines(report: Dict[str, Any]) -> None:
    """Quantize: the speed-up against each FP32 engine, auto's choice, and each other engine's int8 model."""
    if "vs_fastest_fp32" not in report:
        return
    console.print(f"int8 on {ENGINES[report['engine']].label}: {vs_fp32_text(report)}; "
                  f"FP32 medians: {fp32_engines_text(report)}", highlight=False, soft_wrap=True)
    render_fp32_skipped(report)
    if "engine_auto" in report:
        timings = ", ".join(f"{name} {ms:.2f} ms" for name, ms in report["engine_auto"]["int8_latency_ms"].items())
        console.print(f"engine auto: chose {report['engine_auto']['chosen']}, the fastest int8 engine here "
                      f"(int8 medians: {timings})", highlight=False, soft_wrap=True)
    for name, data in report.get("int8_engines", {}).items():
        if "top1_agreement" not in data:
            continue
        console.print(f"{ENGINES[name].label} int8 vs {data['compared_with']}: top-1 agreement "
                      f"{100 * data['top1_agreement']:.1f}% on {data['images']} images, max abs diff "
                      f"{data['max_abs_diff']:.2e}", highlight=False)
        for op, why in data["fp32_ops"].items():
            console.print(f"  {ENGINES[name].label} keeps {op} in FP32: {why}", highlight=False, soft_wrap=True)
