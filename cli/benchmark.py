"""`compressor benchmark`: measured latency, throughput and speedup of a model over another."""
from __future__ import annotations

import click

from ..compression.benchmark import compare_loaded, dense_counterpart
from ..compression.core.errors import UserError
from ..compression.device import resolve_device
from ..compression.model_source import load_model
from .common import (console, emit_json, json_option, model_options, print_measurement_warnings, render_table,
                     speedup_text)


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
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: torch's).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@json_option
def benchmark(checkpoint, arch, pretrained, weights, num_classes, input_size, compare_checkpoint, compare_arch, batch_size, repeats, warmup,
              threads, device, as_json):
    """Latency and throughput of a model and of a comparison, in one interleaved run, and `speedup`.

    Both models run on the same random batch, alternating, and the medians are compared:
    speedup = comparison median / model median. Without --compare or --compare-arch the
    comparison is the dense architecture of the model, built fresh.

    \b
    Examples:
      compressor benchmark --checkpoint runs/resnet18_filters_thin-x/best.pt
      compressor benchmark --checkpoint thin.pt --compare dense.pt --batch-size 1 --threads 1
      compressor benchmark --arch resnet18 --compare-arch resnet50 --json
    """
    target = _device(device)
    candidate = load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size)
    baseline, baseline_name = _baseline(candidate, compare_checkpoint, compare_arch)
    result = compare_loaded(candidate, baseline, checkpoint or arch, baseline_name, batch_size=batch_size,
                            warmup=warmup, repeats=repeats, device=target, threads=threads)
    result.update(device=device, threads=threads, repeats=repeats, warmup=warmup)
    if as_json:
        emit_json(result)
    else:
        _render(result)


def _baseline(candidate, compare_checkpoint, compare_arch):
    if compare_checkpoint and compare_arch:
        raise UserError("give at most one of --compare CKPT or --compare-arch NAME")
    if compare_checkpoint or compare_arch:
        return load_model(compare_checkpoint, compare_arch), compare_checkpoint or compare_arch
    return dense_counterpart(candidate), f"{candidate.info.name} (dense)"


def _device(name):
    try:
        return resolve_device(name)
    except RuntimeError:
        raise UserError(f"--device '{name}': expected cpu, cuda, cuda:N or auto") from None


def _render(result):
    rows = [(side, data["name"], f"{data['median_ms']:.2f}", f"{data['p10_ms']:.2f}", f"{data['p90_ms']:.2f}",
             f"{data['throughput']:.1f}") for side, data in (("model", result["candidate"]),
                                                               ("comparison", result["baseline"]))]
    shape = "x".join(map(str, result["input_shape"]))
    render_table(f"latency: batch {result['batch_size']} of {shape} on {result['device']}, "
                 f"{result['repeats']} interleaved runs each",
                 ["", "model", "median ms", "p10 ms", "p90 ms", "images/s"], rows)
    console.print(f"speedup: {speedup_text(result)} (comparison / model, median and 10th to 90th percentile "
                  "of the interleaved runs)", highlight=False)
    print_measurement_warnings(result)
