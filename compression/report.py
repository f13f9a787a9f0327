"""The end-of-run compression report: dense vs compressed size, work, latency and accuracy."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

from torch import nn

from .benchmark import Device, speedup_summary
from .core.checkpoint import saved_bytes
from .engine_latency import measure_on_device, vs_fastest_fp32
from .summary import summarize

LATENCY_KEYS = ("dense_latency_ms", "latency_ms", "speedup", "speedup_low", "speedup_high", "speedup_measurable",
                "measurement_warnings", "latency_batch_size", "fp32_engines_latency_ms", "fastest_fp32_engine",
                "fastest_fp32_label", "vs_fastest_fp32")


def compression_report(dense_model: nn.Module, compressed_model: nn.Module, input_shape: Sequence[int],
                       compressed_file: Optional[Union[str, Path]] = None, dense_top1: Optional[float] = None,
                       top1: Optional[float] = None, measure_speed: bool = True, batch_size: int = 8,
                       repeats: int = 7, warmup: int = 2, device: Device = "cpu") -> Dict[str, Any]:
    """One flat dict comparing the dense architecture with the compressed model.

    `dense_model` is the same architecture unpruned and unthinned. Its weights do not
    matter (only its shape counts for parameters, MACs, file size and latency), so a fresh
    `build_model(arch, num_classes=...)` serves; `dense_nnz` is its parameter count, since
    a fresh model's zero-initialised biases are not sparsity. `file_bytes` and
    `dense_file_bytes` are the sizes of each model's `torch.save`d state_dict, measured
    alike; `checkpoint_bytes` is the size of `compressed_file` on disk (it also holds
    optimizer state, masks and metrics), or None without one. Latency comes from one
    interleaved `measure_latency` run of both models with few repeats (milliseconds for
    digits_cnn, a few seconds for resnet18 on CPU); with `measure_speed=False` the latency
    keys are None. `speedup_low`/`speedup_high`/`speedup_measurable`/`measurement_warnings` say how far
    the speed-up can be trusted (see `speedup_summary`). Both models are moved to `device` to be timed.
    In the same run the dense model is also timed on every other installed FP32 engine (onnxruntime,
    OpenVINO: CPU only), and the compressed model's speed-up is also given against the fastest of them
    (`fp32_engines_latency_ms`, `fastest_fp32_engine`, `fastest_fp32_label`, `vs_fastest_fp32`; see
    engine_latency.py); `fp32_engines_skipped` says why an engine was left out (no ONNX form, another device).
    The compressed model itself runs in PyTorch eager only.

    Called at the end of `compressor train` (Run.finish) as:
        compression_report(build_model(info.name, num_classes=info.num_classes), best,
                           info.input_shape, folder.best_path, None, test.top1, device=device)
    """
    dense, compressed = summarize(dense_model, input_shape), summarize(compressed_model, input_shape)
    report: Dict[str, Any] = {
        "dense_params": dense.total_params, "params": compressed.total_params,
        "dense_nnz": dense.total_params, "nnz": compressed.nnz, "sparsity": compressed.sparsity,
        "dense_macs": dense.macs, "macs": compressed.macs, "effective_macs": compressed.effective_macs,
        "dense_file_bytes": state_dict_bytes(dense_model), "file_bytes": state_dict_bytes(compressed_model),
        "checkpoint_bytes": Path(compressed_file).stat().st_size if compressed_file else None,
        "dense_top1": dense_top1, "top1": top1,
    }
    report.update(latency_report(dense_model, compressed_model, input_shape, batch_size, repeats, warmup, device)
                  if measure_speed else dict.fromkeys(LATENCY_KEYS))
    return report


def state_dict_bytes(model: nn.Module) -> int:
    """Size of `torch.save(model.state_dict())`."""
    return saved_bytes(model.state_dict())


def latency_report(dense_model: nn.Module, compressed_model: nn.Module, input_shape: Sequence[int],
                   batch_size: int, repeats: int, warmup: int, device: Device) -> Dict[str, Any]:
    """LATENCY_KEYS (and `fp32_engines_skipped`) from one interleaved run: the compressed model on PyTorch
    eager, the dense model on every installed FP32 engine (on PyTorch eager: `dense_latency_ms`)."""
    with tempfile.TemporaryDirectory() as folder:  # the dense model's FP32 ONNX file, for the other engines
        results, dense, skipped = measure_on_device({"compressed": compressed_model}, dense_model, input_shape,
                                                    folder, device, batch_size=batch_size, warmup=warmup,
                                                    repeats=repeats)
    compressed = results["compressed"]
    return {"dense_latency_ms": dense["torch"].median_ms, "latency_ms": compressed.median_ms,
            **speedup_summary(compressed, dense["torch"], ("compressed", "dense")),
            "latency_batch_size": batch_size, **vs_fastest_fp32(compressed, dense),
            **({"fp32_engines_skipped": skipped} if skipped else {})}
