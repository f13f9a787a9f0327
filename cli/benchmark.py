"""`compressor benchmark`: measured latency, throughput and speedup of a model over another."""
from __future__ import annotations

import tempfile

import click

from ..compression.core.errors import UserError
from .common import (console, emit_json, json_option, model_options, print_measurement_warnings, render_table,
                     speedup_text)
from .engine_render import fp32_engines_text, render_fp32_skipped, vs_fp32_text


@click.command()
@model_options
@click.option("--compare", "compare_checkpoint", type=click.Path(dir_okay=False),
              help="Checkpoint to compare with (default: the dense arch of the model).")
@click.option("--compare-arch", help="Model name to compare with, built fresh.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Images per batch.")
@click.option("--repeats", type=click.IntRange(min=1), default=20, show_default=True,
              help="Measured forward passes per model.")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True,
              help="Unmeasured passes per model first.")
@click.option("--exported", "exported_files", multiple=True, type=click.Path(dir_okay=False),
              help="An exported file to time beside the models (repeatable): .onnx runs in onnxruntime "
                   "(or --engine openvino), .xml (OpenVINO IR) in OpenVINO.")
@click.option("--engine", type=click.Choice(["onnxruntime", "openvino"]),
              help="Engine that runs the .onnx files of --exported (default: onnxruntime).")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: torch's).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@json_option
def benchmark(checkpoint, arch, pretrained, weights, num_classes, input_size, compare_checkpoint, compare_arch, batch_size, repeats, warmup,
              exported_files, engine, threads, device, as_json):
    """Latency and throughput of a model and of a comparison, in one interleaved run, and `speedup`.

    Both models run on the same random batch, alternating, and the medians are compared:
    speedup = comparison median / model median. Without --compare or --compare-arch the
    comparison is the dense architecture of the model, built fresh. Exported files (--exported)
    are timed in the same run. The comparison also runs on every installed FP32 engine
    (onnxruntime, OpenVINO), and each speed-up is given against the fastest of them too.

    \b
    Examples:
      compressor benchmark --checkpoint runs/resnet18_filters_thin-x/best.pt
      compressor benchmark --checkpoint thin.pt --compare dense.pt --batch-size 1 --threads 1
      compressor benchmark --arch resnet18 --compare-arch resnet50 --json
      compressor benchmark --checkpoint best.pt --exported model_int8_qdq.onnx --exported ir/model.xml
      compressor benchmark --exported model_int8_qdq.onnx --engine openvino --compare-arch digits_cnn
    """
    # torch and the library load here, not for `--help`
    from ..compression.engine_latency import compare_on_engines
    from ..compression.engines.models import load_exported
    from ..compression.model_source import load_model

    target = _device(device)
    if engine and not exported_files:
        raise UserError("--engine applies to the .onnx files of --exported: give --exported FILE")
    exported = {str(path): load_exported(path, engine) for path in exported_files}
    candidate = None
    if checkpoint or arch or not exported:
        candidate = _as_run(load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size))
    baseline, baseline_name = _baseline(candidate, compare_checkpoint, compare_arch)
    with tempfile.TemporaryDirectory() as folder:  # the comparison's FP32 ONNX file for the other engines
        result = compare_on_engines(candidate, baseline, checkpoint or arch, baseline_name, exported, folder,
                                    batch_size=batch_size, warmup=warmup, repeats=repeats, device=target,
                                    threads=threads)
    result.update(device=device, threads=threads, repeats=repeats, warmup=warmup)
    if as_json:
        emit_json(result)
    else:
        _render(result)


def _baseline(candidate, compare_checkpoint, compare_arch):
    from ..compression.benchmark import dense_counterpart
    from ..compression.model_source import load_model

    if compare_checkpoint and compare_arch:
        raise UserError("give at most one of --compare CKPT or --compare-arch NAME")
    if compare_checkpoint or compare_arch:
        return _as_run(load_model(compare_checkpoint, compare_arch)), compare_checkpoint or compare_arch
    if candidate is None:
        raise UserError("an exported file is timed against a model: give --compare CKPT or --compare-arch NAME "
                        "(or --checkpoint / --arch)")
    return dense_counterpart(candidate), f"{candidate.info.name} (dense)"


def _as_run(loaded):
    """A packed int8 file (`quantize --pack`) is timed as the int8 model it holds, as `evaluate` runs it."""
    import dataclasses

    from ..compression.packing_int8 import int8_module

    int8 = int8_module(loaded)
    return loaded if int8 is None else dataclasses.replace(loaded, model=int8)


def _device(name):
    from ..compression.device import resolve_device

    try:
        return resolve_device(name)
    except RuntimeError:
        raise UserError(f"--device '{name}': expected cpu, cuda, cuda:N or auto") from None


def _render(result):
    sides = ([("model", result["candidate"])] if "candidate" in result else []) + \
        [(f"exported ({data['engine']})", data) for data in result["exported"]] + [("comparison", result["baseline"])]
    rows = [(side, data["name"], f"{data['median_ms']:.2f}", f"{data['p10_ms']:.2f}", f"{data['p90_ms']:.2f}",
             f"{data['throughput']:.1f}") for side, data in sides]
    shape = "x".join(map(str, result["input_shape"]))
    render_table(f"latency: batch {result['batch_size']} of {shape} on {result['device']}, "
                 f"{result['repeats']} interleaved runs each",
                 ["", "model", "median ms", "p10 ms", "p90 ms", "images/s"], rows)
    head = "model" if "candidate" in result else result["exported"][0]["name"]
    which = "" if "candidate" in result else f" of {head}"
    console.print(f"speedup{which}: {speedup_text(result)} (comparison / model, median and 10th to 90th "
                  "percentile of the interleaved runs)", highlight=False)
    # without a model, the result's own speed-up is the first exported file's: said once, by its name
    for data in ([result] if "candidate" in result else []) + result["exported"]:
        name = head if data is result else data["name"]
        console.print(f"{name}: {vs_fp32_text(data)}", highlight=False, soft_wrap=True)
    console.print(f"comparison FP32 medians: {fp32_engines_text(result)}", highlight=False, soft_wrap=True)
    render_fp32_skipped(result)
    print_measurement_warnings(result)
