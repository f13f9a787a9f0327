"""Latency against the FP32 model on every installed engine: a speed-up is also given against the fastest
FP32 engine here (PyTorch eager, onnxruntime FP32, OpenVINO FP32), not only against PyTorch eager."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from .benchmark import LatencyResult, measure_latency, shared_input_shape, speedup_summary
from .core.errors import UserError, first_line
from .engines.models import fp32_engine_models
from .engines.registry import FP32_LABELS, installed_engines
from .model_source import LoadedModel

_FP32 = "fp32 on "
_BATCH_SIZE = inspect.signature(measure_latency).parameters["batch_size"].default  # when options give none


def measure_with_fp32_engines(models: Dict[str, nn.Module], fp32_model: nn.Module, input_shape: Sequence[int],
                              folder, **options: Any
                              ) -> Tuple[Dict[str, LatencyResult], Dict[str, LatencyResult], Dict[str, str]]:
    """Time `models` and `fp32_model` on each installed engine in one interleaved run (CPU).

    Returns the results of `models`, those of the FP32 engines (engine name -> result) and the engines left out.
    `options` are measure_latency's; the engines' FP32 ONNX file is written into `folder`. An
    engine that cannot run the FP32 model is left out, with why.
    """
    example = torch.zeros(1, *input_shape)
    fp32, skipped = fp32_engine_models(fp32_model, example, folder)
    _leave_out_wrong_runs(fp32, skipped, torch.zeros(options.get("batch_size", _BATCH_SIZE), *input_shape))
    timed = {**models, **{_FP32 + name: model for name, model in fp32.items()}}
    results = measure_latency(timed, input_shape, **options)
    return {name: results[name] for name in models}, {name: results[_FP32 + name] for name in fp32}, skipped


def measure_on_device(models: Dict[str, nn.Module], fp32_model: nn.Module, input_shape: Sequence[int], folder,
                      device: Any = "cpu", **options: Any
                      ) -> Tuple[Dict[str, LatencyResult], Dict[str, LatencyResult], Dict[str, str]]:
    """`measure_with_fp32_engines` on `device`: engines other than PyTorch run on the CPU, so on another
    device only PyTorch's FP32 is timed beside `models` (the others are left out, with why)."""
    if torch.device(device).type == "cpu":
        return measure_with_fp32_engines(models, fp32_model, input_shape, folder, device=device, **options)
    timed = measure_latency({**models, _FP32 + "torch": fp32_model}, input_shape, device=device, **options)
    skipped = {name: "runs on the CPU only" for name in installed_engines() if name != "torch"}
    return {name: timed[name] for name in models}, {"torch": timed[_FP32 + "torch"]}, skipped


def vs_fastest_fp32(candidate: LatencyResult, fp32: Dict[str, LatencyResult]) -> Dict[str, Any]:
    """The FP32 engines' medians, which was fastest, and the candidate's speed-up over it (with its interval)."""
    fastest = min(fp32, key=lambda name: fp32[name].median_ms)
    summary = _without_warnings(speedup_summary(candidate, fp32[fastest]))
    return {"fp32_engines_latency_ms": {name: result.median_ms for name, result in fp32.items()},
            "fastest_fp32_engine": fastest, "fastest_fp32_label": FP32_LABELS[fastest],
            "vs_fastest_fp32": summary}


def compare_on_engines(candidate: Optional[LoadedModel], baseline: LoadedModel, candidate_name: Optional[str],
                       baseline_name: str, exported: Dict[str, nn.Module], folder, device: Any = "cpu",
                       **options: Any) -> Dict[str, Any]:
    """`compressor benchmark`: the model, exported files (path -> model on its engine) and the comparison,
    the comparison on every installed FP32 engine too, in one interleaved run.

    `speedup` (and `vs_fastest_fp32`) are those of the model, or of the first exported file without
    one; each exported file has its own. Engines other than PyTorch run on the CPU: on another device
    only PyTorch's FP32 is compared.
    """
    shape = shared_input_shape(candidate.info, baseline.info) if candidate else tuple(baseline.info.input_shape)
    models = {**({"model": candidate.model} if candidate else {}), **exported}
    for name, model in exported.items():
        _check_runs(name, model, shape)
    results, fp32, skipped = measure_on_device(models, baseline.model, shape, folder, device, **options)
    result: Dict[str, Any] = {}
    if candidate:
        result["candidate"] = {"name": candidate_name, "arch": candidate.info.name, **results["model"].to_dict()}
    result["baseline"] = {"name": baseline_name, "arch": baseline.info.name, **fp32["torch"].to_dict()}
    result["exported"] = [{"name": name, "engine": model.engine, **results[name].to_dict(),
                           **_without_warnings(speedup_summary(results[name], fp32["torch"])),
                           **vs_fastest_fp32(results[name], fp32)} for name, model in exported.items()]
    head = results["model" if candidate else next(iter(exported))]
    result.update(**speedup_summary(head, fp32["torch"]), **vs_fastest_fp32(head, fp32),
                  batch_size=head.batch_size, input_shape=list(shape))
    if skipped:
        result["fp32_engines_skipped"] = skipped
    return result


def _check_runs(name: str, model: nn.Module, shape: Sequence[int]) -> None:
    if not model.accepts((1, *shape)):
        dims = "x".join("?" if dim is None else str(dim) for dim in model.input_dims)
        raise UserError(f"{name} takes input {dims}, not batches of {_dims(shape)} (the models' input)")
    why = _fails_on(model, torch.zeros(1, *shape))
    if why:
        raise UserError(f"{name} does not run on input of shape {_dims(shape)}: {why}")


def _leave_out_wrong_runs(fp32: Dict[str, nn.Module], skipped: Dict[str, str], batch: torch.Tensor) -> None:
    """Leave out (into `skipped`, with why) each engine that cannot run the FP32 file on the timed batch, or
    gives another output shape than PyTorch: an export can keep the example's batch of one as a constant."""
    if len(fp32) == 1:
        return
    with torch.no_grad():
        expected = fp32["torch"](batch)
    shape = tuple(expected.shape) if isinstance(expected, torch.Tensor) else None
    for name in [name for name in fp32 if name != "torch"]:
        why = _fails_on(fp32[name], batch, shape)
        if why:
            del fp32[name]
            skipped[name] = f"does not run the FP32 ONNX file on a batch of {batch.shape[0]}: {why}"


def _fails_on(model: nn.Module, batch: torch.Tensor, shape: Optional[Sequence[int]] = None) -> Optional[str]:
    """Why `model` cannot run `batch` (first line of its error, or an output not of `shape`), or None."""
    try:
        with torch.no_grad():
            output = model(batch)
    except Exception as err:  # noqa: BLE001  (each engine raises its own errors for an input it cannot run)
        return first_line(err)
    if shape is not None and tuple(output.shape) != tuple(shape):
        return f"output {_dims(output.shape)}, expected {_dims(shape)}"
    return None


def _dims(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def _without_warnings(summary: Dict[str, Any]) -> Dict[str, Any]:
    summary.pop("measurement_warnings")
    return summary
