"""Helpers of `compressor quantize`: settings from schedule and flags, data, and the result table."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from pydantic import ValidationError

from ..compression.core.errors import UserError, validation_message
from ..compression.model_source import test_loader
from ..compression.quantization.ptq_config import PostTrainConfig, with_updates
from ..compression.quantization.registration import post_train_config
from ..compression.quantization.stats import calibration_loader
from ..compression.schedule import load_schedule
from ..compression.workflows.post_training import QuantizeData
from ..datasets import build_datasets, build_loaders
from .common import console, emit_json, print_measurement_warnings, render_table, size_text, speedup_text
from .engine_render import render_engines
from .quantize_lapq import render_lapq
from .quantize_ranges import render_ranges


def ptq_settings(schedule_path: Optional[str], flags: Dict[str, Any]) -> PostTrainConfig:
    config = PostTrainConfig()
    if schedule_path:
        schedule = load_schedule(schedule_path)
        for warning in schedule.warnings:  # a duplicated key, read as PyYAML and Distiller read it
            console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
        config = post_train_config(schedule)
    updates = {key: value for key, value in flags.items() if value is not None}
    try:
        return with_updates(config, updates)
    except ValidationError as err:
        error = err.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise UserError(f"--{where.replace('_', '-')}: {validation_message(error)}") from None


def quantize_data(loaded, dataset, calibration_size: int) -> QuantizeData:
    batches = list(calibration_loader(loaded.info, dataset, calibration_size))
    splits = build_datasets(dataset, loaded.info.input_shape, loaded.info.num_classes, 0)
    val = build_loaders(splits, dataset.batch_size, dataset.workers, 0).val
    return QuantizeData([images for images, *_ in batches], val, test_loader(loaded, dataset),
                        [labels for _, labels, *_ in batches])


def default_out(checkpoint: Optional[str], arch: Optional[str] = None) -> Path:
    if checkpoint:
        return Path(checkpoint).parent / f"{Path(checkpoint).stem}-quantized"
    return Path("runs") / f"quantize-{str(arch).replace(':', '-').replace('/', '-')}"


def render_quantize(result, as_json: bool) -> None:
    report = {**result.report, "files": result.files}
    if result.search is not None:
        report["tolerance_met"] = result.search.met
        report["search"] = {"tried": result.search.tried, "fallbacks": result.search.fallbacks}
    if as_json:
        emit_json(report)
        return
    rows = [("top-1", f"{report['fp32_top1']:.2f}%", f"{report['top1']:.2f}%")]
    if "qat_top1" in report:
        rows.append(("top-1 with the QAT quantizers", "", f"{report['qat_top1']:.2f}%"))
    if "int8_latency_ms" in report:
        rows += [("weights file", size_text(report['fp32_file_bytes']), size_text(report['int8_file_bytes'])),
                 (f"latency (batch {report['latency_batch_size']})", f"{report['fp32_latency_ms']:.2f} ms",
                  f"{report['int8_latency_ms']:.2f} ms, {speedup_text(report)}")]
    render_table(f"{report['arch']}: FP32 vs quantized ({report['int8']})", ["", "FP32", "quantized"], rows)
    print_measurement_warnings(report)
    if report["fp32_layers"]:
        console.print(f"kept in FP32: {', '.join(report['fp32_layers'])}", highlight=False, soft_wrap=True)
    render_ranges(report)
    render_engines(report)
    if "lapq" in report:
        render_lapq(report["lapq"])
    if result.search is not None and not result.search.met:
        console.print("tolerance not met: kept the most accurate choice found", highlight=False)
    images = f" ({report.get('file_check_images')} calibration images)"
    if "program_max_abs_diff" in report:
        console.print(f"int8 .pt2 (torch.export) vs int8: max abs diff {report['program_max_abs_diff']:.2e}, "
                      f"top-1 agreement {100 * report['program_top1_agreement']:.1f}%{images}", highlight=False)
    if "onnx_max_abs_diff" in report:
        console.print(f"int8 ONNX in onnxruntime vs int8: max abs diff {report['onnx_max_abs_diff']:.2e}{images}",
                      highlight=False)
    if "int8_onnx" in report:
        console.print(f"int8 ONNX {report['int8_onnx']}", highlight=False, soft_wrap=True)
    if "packed_file_bytes" in report:
        console.print(f"packed int8 file: {report['packed_file_bytes']:,} bytes, {report['packed_ratio_vs_fp32']:.1f}x "
                      f"smaller than the FP32 weights, {report['packed_int8_bits_per_weight']:.2f} bits per int8 weight; "
                      f"rebuilt int8 vs int8: max abs diff {report['packed_max_abs_diff']:.2e}{images}",
                      highlight=False)
    if "int8_packed" in report:
        console.print(f"packed int8 file {report['int8_packed']}", highlight=False, soft_wrap=True)
    for name, path in result.files.items():
        console.print(f"{name}: {path}", highlight=False, soft_wrap=True)
