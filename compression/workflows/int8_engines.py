"""`compressor quantize --engine`: the int8 model on onnxruntime or OpenVINO, from the torch int8 model's
own scales (a QDQ ONNX file), checked against the simulated model; `auto` times each installed engine
and keeps the fastest."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from ..benchmark import LatencyResult
from ..core.errors import UserError
from ..engines.models import int8_engine_model
from ..engines.qdq_onnx import quantized_ops, save_qdq_onnx
from ..engines.registry import AUTO, installed_engines, require_engine

QDQ_FILE = "model_int8_qdq.onnx"


@dataclass
class EngineModels:
    """The int8 model on each engine asked for, the QDQ file they run, and the ops each keeps in FP32."""

    models: Dict[str, nn.Module]
    qdq_file: Optional[str] = None
    fp32_ops: Dict[str, Dict[str, str]] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)  # engine -> why `auto` could not build it


def engines_for(choice: str) -> List[str]:
    """The engines `--engine choice` builds: torch and that one (installed, else UserError), or every installed one."""
    if choice == AUTO:
        return installed_engines()
    require_engine(choice)
    return ["torch"] + [choice] * (choice != "torch")  # the torch int8 model is built (and timed) anyway


def build_engine_models(int8, engines: List[str], example: torch.Tensor, out: Path, auto: bool = False
                        ) -> EngineModels:
    """The torch int8 model and, for onnxruntime/OpenVINO, the QDQ file of it run by each.

    A model with no QDQ ONNX form is an error, except under `auto`, which then keeps to torch (`skipped`).
    """
    built = EngineModels({})
    if any(name != "torch" for name in engines):
        path = out / QDQ_FILE
        try:
            save_qdq_onnx(int8, (example,), path)
            built.qdq_file = str(path)
        except UserError as err:
            if not auto:
                raise
            built.skipped = {name: str(err) for name in engines if name != "torch"}
            engines = ["torch"]
    ops = quantized_ops(built.qdq_file) if built.qdq_file else []
    for name in engines:
        model = int8_engine_model(name, int8, built.qdq_file)
        built.models[name] = model
        if name != "torch":
            built.fp32_ops[name] = _engine_fp32_ops(name, model, ops)
    return built


def _engine_fp32_ops(name: str, model: nn.Module, ops) -> Dict[str, str]:
    if name == "onnxruntime":
        from ..engines import onnxruntime_engine

        return onnxruntime_engine.fp32_ops(model.path, ops)
    from ..engines import openvino_engine

    return openvino_engine.fp32_ops(model, ops)


def choose(choice: str, latency: Dict[str, LatencyResult]) -> str:
    """The engine asked for, or under `auto` the one with the lowest median int8 latency."""
    if choice != AUTO:
        return choice
    if not latency:
        raise UserError("--engine auto: no int8 engine is installed")
    return min(latency, key=lambda name: latency[name].median_ms)


def compare_engines(models: Dict[str, nn.Module], reference: nn.Module, loader) -> Dict[str, Dict[str, Any]]:
    """Each model's top-1, and its top-1 agreement and largest logit difference with `reference`, on `loader`."""
    counts = {name: {"correct": 0, "top5": 0, "agree": 0, "diff": 0.0} for name in models}
    images = 0
    with torch.no_grad():
        for inputs, labels, *_ in loader:
            inputs = inputs.cpu()
            expected = reference(inputs)
            images += len(inputs)
            for name, model in models.items():
                actual = model(inputs).float()
                count = counts[name]
                count["correct"] += (actual.argmax(1) == labels.cpu()).sum().item()
                top5 = actual.topk(min(5, actual.shape[1]), dim=1).indices
                count["top5"] += (top5 == labels.cpu().unsqueeze(1)).any(1).sum().item()
                count["agree"] += (actual.argmax(1) == expected.argmax(1)).sum().item()
                count["diff"] = max(count["diff"], (actual - expected).abs().max().item())
    images = max(images, 1)
    return {name: {"top1": 100.0 * count["correct"] / images, "top5": 100.0 * count["top5"] / images,
                   "top1_agreement": count["agree"] / images,
                   "max_abs_diff": count["diff"], "images": images} for name, count in counts.items()}
