"""`compressor export`: a deployable ONNX, torch.export, TorchScript or OpenVINO IR file, run once and compared
with PyTorch."""
from __future__ import annotations

import click

from ..compression.core.errors import UserError
from ..compression.export_formats import FORMAT_ALIASES, FORMATS, format_name
from .common import dataset_options, emit_json, json_option, model_options, render_mapping, threads_option
from .options import dataset_config


@click.command()
@model_options
@click.option("--format", "fmt", type=click.Choice(FORMATS + tuple(FORMAT_ALIASES)), required=True,
              help="File format (exported is pt2; packed: sparse, shared and quantized weights in their smallest exact form).")
@click.option("--out", type=click.Path(), required=True,
              help="File to write (openvino: the IR's .xml, or a folder for model.xml and model.bin).")
@click.option("--int8", is_flag=True, help="Convert to int8 first (ONNX: QuantizeLinear/DequantizeLinear; "
                                           "openvino: IR of that QDQ file).")
@click.option("--calibration-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Training images that calibrate the int8 ranges.")
@dataset_options
@threads_option
@json_option
def export(checkpoint, arch, pretrained, weights, num_classes, input_size, fmt, out, int8, calibration_size, dataset,
           data_dir, batch_size, workers, as_json):
    """Write a deployable file, run it once in onnxruntime, torch.export, TorchScript or OpenVINO; compare with PyTorch.

    pt2 is a torch.export ExportedProgram: `torch.export.load(path).module()` runs it with torch
    alone; with --int8 it holds int8 weights and the int8 model's activation quantization.

    \b
    Examples:
      compressor export --checkpoint runs/digits_baseline-x/best.pt --format onnx --out digits.onnx
      compressor export --checkpoint best.pt --format onnx --out digits_int8.onnx --int8 --json
      compressor export --checkpoint best.pt --format pt2 --out digits_int8.pt2 --int8
      compressor export --arch resnet18 --format torchscript --out resnet18.pt
      compressor export --checkpoint best.pt --format openvino --out digits_ir/
      compressor export --checkpoint best.pt --format openvino --out digits_int8.xml --int8
      compressor export --checkpoint runs/digits_deep_compression-x/best.pt --format packed --out digits.cpk
    """
    # torch and the library load here, not for `--help`
    from ..compression.export import calibration_images, export_fp32, export_int8, write_int8
    from ..compression.model_source import load_model
    from ..compression.packing_int8 import int8_from_payload

    fmt = format_name(fmt)
    loaded = load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size)
    packed_int8 = loaded.checkpoint is not None and bool(loaded.checkpoint.get("ptq"))  # quantize --pack's file
    if fmt == "packed":
        _packed(loaded, out, int8, as_json)
    elif int8 or packed_int8:  # a packed int8 model is written as the int8 model it holds
        config = dataset_config(loaded.dataset, dataset, data_dir, batch_size, workers, loaded.dataset_options)
        images = calibration_images(loaded, config, calibration_size)
        result = write_int8(int8_from_payload(loaded.checkpoint), fmt, out, images) if packed_int8 else \
            export_int8(loaded.model, fmt, out, images)
        _report(loaded, out, result, as_json)
    else:
        _report(loaded, out, export_fp32(loaded.model, loaded.info.input_shape, fmt, out), as_json)


def _report(loaded, out, result, as_json) -> None:
    data = {"arch": loaded.info.name, **result.to_dict()}
    if as_json:
        emit_json(data)
    else:
        render_mapping(f"export: {out}", {**data, "max_abs_diff": f"{result.max_abs_diff:.2e}"})


def _packed(loaded, out, int8, as_json) -> None:
    if int8:
        raise UserError("--int8 does not apply to --format packed: a packed file stores each weight exactly as the "
                        "checkpoint's model computes with it; for a packed int8 model run `compressor quantize "
                        "--checkpoint CKPT --stats STATS --pack` (writes model_int8.cpk), or pack a QAT checkpoint")
    from ..compression.packing import export_packed

    result = export_packed(loaded, out)
    data = {"arch": loaded.info.name, "format": "packed", **result.to_dict()}
    if as_json:
        emit_json(data)
        return
    render_mapping(f"export: {out}", {
        "file": f"{result.file_bytes:,} bytes",
        "vs FP32 weights": f"{result.fp32_bytes / result.file_bytes:.1f}x smaller ({result.fp32_bytes:,} bytes)",
        "vs dense FP32 architecture": f"{result.ratio:.1f}x smaller ({result.dense_fp32_bytes:,} bytes)",
        "quantized layers": ", ".join(result.quantized_layers) or "none",
        "max_abs_diff": f"{result.max_abs_diff:.2e}"})
