"""`compressor quantize`: activation statistics, then post-training quantization to a real int8 model."""
from __future__ import annotations

from pathlib import Path

import click

from ..compression.engines.registry import ENGINE_CHOICES
from .common import dataset_options, emit_json, json_option, model_options, render_mapping, threads_option
from .options import dataset_config
from .quantize_lapq import check_lapq_flags, lapq_options


@click.command()
@model_options
@click.option("--collect-stats", type=click.Path(dir_okay=False),
              help="Run a calibration pass and write Distiller-format activation statistics to this YAML file.")
@click.option("--stats", "stats_path", type=click.Path(dir_okay=False),
              help="Quantize with the ranges of this Distiller-format statistics file.")
@click.option("--schedule", "schedule_path", type=click.Path(dir_okay=False),
              help="Take bits, modes, clipping and overrides from its PostTrainLinearQuantizer.")
@click.option("--bits-activations", type=int, help="Bits of activations (overrides the schedule).")
@click.option("--bits-parameters", type=int, help="Bits of weights (overrides the schedule).")
@click.option("--mode", help="SYMMETRIC, SYMMETRIC_RESTRICTED, ASYMMETRIC_UNSIGNED or ASYMMETRIC_SIGNED.")
@click.option("--clip-acts", help="NONE, AVG, N_STD, GAUSS, LAPLACE, MSE, PERCENTILE or KL.")
@click.option("--per-channel/--per-tensor", default=None, help="Weight scales per output channel or per tensor.")
@click.option("--tolerance", type=click.FloatRange(min=0), help="Largest top-1 drop (points) to accept: "
              "tries clip modes, then puts the most sensitive layers back in FP32.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for quant_params.yaml, model_int8.pt2 and model_int8.pt.")
@click.option("--onnx", "write_onnx", is_flag=True,
              help="Also write model_int8.onnx: the same int8 model as ONNX QDQ, checked once in onnxruntime.")
@click.option("--pack", is_flag=True,
              help="Also write model_int8.cpk: the int8 weights (<= 8 bits each) with their scales, the activation "
                   "ranges and the model's record, from which `evaluate` and `load_packed_int8` rebuild the int8 model.")
@click.option("--engine", type=click.Choice(ENGINE_CHOICES), default="torch", show_default=True,
              help="Engine of the int8 model: torch (torch.ao), onnxruntime or openvino (a QDQ ONNX file with the "
                   "same scales), or auto (the fastest installed one, measured here).")
@click.option("--calibration-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Calibration images: the first N of the dataset's training split.")
@lapq_options
@dataset_options
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@threads_option
@json_option
def quantize(checkpoint, arch, pretrained, weights, num_classes, input_size, collect_stats, stats_path,
             schedule_path, bits_activations, bits_parameters, mode,
             clip_acts, per_channel, tolerance, out, write_onnx, pack, engine, calibration_size, device, as_json, lapq,
             **data):
    """Quantize a trained model: collect activation statistics, then build a real int8 model.

    \b
    Examples:
      compressor quantize --checkpoint runs/digits_baseline-x/best.pt --collect-stats stats.yaml
      compressor quantize --checkpoint best.pt --stats stats.yaml
      compressor quantize --checkpoint best.pt --stats stats.yaml --schedule ptq.yaml --tolerance 0.5 --json
      compressor quantize --checkpoint best.pt --stats stats.yaml --onnx
      compressor quantize --checkpoint best.pt --stats stats.yaml --pack --json
      compressor quantize --checkpoint best.pt --stats stats.yaml --engine openvino
      compressor quantize --checkpoint best.pt --stats stats.yaml --engine auto --json
      compressor quantize --arch resnet18 --dataset fake --stats resnet18_quant_stats.yaml --json
      compressor quantize --checkpoint best.pt --lapq --bits-parameters 4 --json
    """
    # torch and the library load here, not for `--help`
    from ..compression.core.errors import UserError
    from ..compression.device import resolve_device
    from ..compression.export import require_onnx
    from ..compression.model_source import load_model
    from ..compression.quantization.qat import carries_quantizers
    from ..compression.quantization.stats import collect_activation_stats
    from ..compression.quantization.stats_format import read_stats, schedule_stats_path
    from ..compression.workflows.int8_engines import engines_for
    from ..compression.workflows.post_training import quantize_post_training, quantize_qat_model
    from .quantize_render import default_out, ptq_settings, quantize_data, render_quantize

    if write_onnx:
        require_onnx()
    engines_for(engine)  # an engine that is not installed is said before any work
    loaded = load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size)
    check_lapq_flags(lapq, collect_stats, tolerance, carries_quantizers(loaded.model))
    if collect_stats:
        _collect(loaded, collect_stats, calibration_size, device, as_json, data)
        return
    dataset = dataset_config(loaded.dataset, data["dataset"], data["data_dir"], data["batch_size"], data["workers"],
                             loaded.dataset_options)
    out_dir = Path(out or default_out(checkpoint, arch))
    flags = {"bits_activations": bits_activations, "bits_parameters": bits_parameters, "mode": mode,
             "clip_acts": clip_acts, "per_channel_wts": per_channel}
    config = ptq_settings(schedule_path, flags)
    if not stats_path and config.model_activation_stats:  # as Distiller, relative to the schedule
        stats_path = schedule_stats_path(schedule_path, config.model_activation_stats)
    if not stats_path and carries_quantizers(loaded.model):
        result = quantize_qat_model(loaded, quantize_data(loaded, dataset, calibration_size), out_dir,
                                    resolve_device(device), write_onnx, engine, pack)
        render_quantize(result, as_json)
        return
    if not stats_path and lapq is None:
        raise UserError("give --collect-stats FILE to write statistics, or --stats FILE to quantize with them "
                        "(a checkpoint trained with QAT quantizers needs neither)")
    images = quantize_data(loaded, dataset, calibration_size)
    stats = read_stats(stats_path) if stats_path else collect_activation_stats(loaded.model, images.calibration)
    result = quantize_post_training(loaded, config, stats, images, out_dir, resolve_device(device), tolerance,
                                    write_onnx, lapq, engine, pack)
    render_quantize(result, as_json)


def _collect(loaded, path: str, size: int, device: str, as_json: bool, data: dict) -> None:
    from ..compression.device import resolve_device
    from ..compression.quantization.stats import calibration_loader, collect_activation_stats
    from ..compression.quantization.stats_format import write_stats

    config = dataset_config(loaded.dataset, data["dataset"], data["data_dir"], data["batch_size"], data["workers"],
                             loaded.dataset_options)
    loader = calibration_loader(loaded.info, config, size)
    stats = collect_activation_stats(loaded.model, loader, resolve_device(device))
    write_stats(stats, path)
    result = {"stats": path, "modules": len(stats), "images": len(loader.dataset)}
    if as_json:
        emit_json(result)
    else:
        render_mapping("activation statistics", result)
