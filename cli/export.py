"""`compressor export`: a deployable ONNX, torch.export or TorchScript file, run once and compared with PyTorch."""
from __future__ import annotations

import click

from ..compression.export import FORMAT_ALIASES, FORMATS, calibration_images, export_fp32, export_int8, format_name
from ..compression.model_source import load_model
from .common import dataset_options, emit_json, json_option, model_options, render_mapping, threads_option
from .options import dataset_config


@click.command()
@model_options
@click.option("--format", "fmt", type=click.Choice(FORMATS + tuple(FORMAT_ALIASES)), required=True,
              help="File format (exported is pt2).")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="File to write.")
@click.option("--int8", is_flag=True, help="Convert to int8 first (ONNX: QuantizeLinear/DequantizeLinear).")
@click.option("--calibration-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Training images that calibrate the int8 ranges.")
@dataset_options
@threads_option
@json_option
def export(checkpoint, arch, pretrained, weights, num_classes, input_size, fmt, out, int8, calibration_size, dataset,
           data_dir, batch_size, workers, as_json):
    """Write a deployable file, run it once in onnxruntime / torch.export / TorchScript and compare with PyTorch.

    pt2 is a torch.export ExportedProgram: `torch.export.load(path).module()` runs it with torch
    alone; with --int8 it holds int8 weights and the int8 model's activation quantization.

    \b
    Examples:
      compressor export --checkpoint runs/digits_baseline-x/best.pt --format onnx --out digits.onnx
      compressor export --checkpoint best.pt --format onnx --out digits_int8.onnx --int8 --json
      compressor export --checkpoint best.pt --format pt2 --out digits_int8.pt2 --int8
      compressor export --arch resnet18 --format torchscript --out resnet18.pt
    """
    fmt = format_name(fmt)
    loaded = load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size)
    if int8:
        config = dataset_config(loaded.dataset, dataset, data_dir, batch_size, workers, loaded.dataset_options)
        images = calibration_images(loaded, config, calibration_size)
        result = export_int8(loaded.model, fmt, out, images)
    else:
        result = export_fp32(loaded.model, loaded.info.input_shape, fmt, out)
    data = {"arch": loaded.info.name, **result.to_dict()}
    if as_json:
        emit_json(data)
    else:
        render_mapping(f"export: {out}", {**data, "max_abs_diff": f"{result.max_abs_diff:.2e}"})
