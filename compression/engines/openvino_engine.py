"""OpenVINO: runs an ONNX file or OpenVINO IR on the CPU, and writes IR; the only module that imports it.

A QDQ ONNX file becomes an int8 model when OpenVINO reads it: its low-precision transformations
turn each QuantizeLinear/DequantizeLinear pair into a FakeQuantize and run the ops between them
on int8 kernels. FP32 is asked for explicitly (INFERENCE_PRECISION_HINT f32): on CPUs with
bf16 units OpenVINO would otherwise compute FP32 models (and an int8 model's FP32 layers) in bf16.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch

from ..core.errors import UserError, first_line
from .engine_model import EngineModel
from .qdq_onnx import QuantizedOp, quantized_ops
from .registry import require_engine

PathLike = Union[str, Path]
INT8_PRECISIONS = ("u8", "i8")
NO_INT8 = "OpenVINO has no int8 kernel for it here: it runs in FP32"


def load(path: PathLike, threads: Optional[int] = None) -> EngineModel:
    """The file (.onnx or .xml) compiled for the CPU, `threads` inference threads (default torch's)."""
    core = _core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads or torch.get_num_threads()}
    try:
        compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    except Exception as err:  # noqa: BLE001  (OpenVINO raises RuntimeError for any bad file)
        raise UserError(f"OpenVINO cannot load {path}: {first_line(err)}") from None
    request = compiled.create_infer_request()
    dims = [None if dim.is_dynamic else dim.get_length() for dim in compiled.input(0).get_partial_shape()]
    return EngineModel("openvino", str(path), lambda batch: request.infer([batch])[0], dims, compiled=compiled)


def save_ir(onnx_path: PathLike, xml_path: PathLike) -> None:
    """Convert an ONNX file to OpenVINO IR: `xml_path` and the `.bin` beside it (weights kept FP32 or int8).

    Both are written in a temporary folder beside them, then moved: the .bin first, so an .xml
    that exists always has its weights.
    """
    import openvino

    model = _core().read_model(str(onnx_path))
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=xml_path.parent, prefix=f".{xml_path.stem}.") as folder:
        written = Path(folder) / xml_path.name
        openvino.save_model(model, str(written), compress_to_fp16=False)
        os.replace(written.with_suffix(".bin"), xml_path.with_suffix(".bin"))
        os.replace(written, xml_path)


def fp32_ops(model: EngineModel, ops: Optional[List[QuantizedOp]] = None) -> Dict[str, str]:
    """The int8 model's quantized operations that OpenVINO runs in FP32 (name -> why), from the compiled model:
    each executed node records the original operations it runs and the precision it runs them in."""
    ops = quantized_ops(model.path) if ops is None else ops
    precisions: Dict[str, List[str]] = {}
    for node in model.details["compiled"].get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        precision = info["runtimePrecision"].astype(str)
        for name in info["originalLayersNames"].astype(str).split(","):
            precisions.setdefault(name, []).append(precision)
    return {op.name: NO_INT8 for op in ops
            if any(precision not in INT8_PRECISIONS for precision in precisions.get(op.node, []))}


def _core():
    require_engine("openvino")
    import openvino

    return openvino.Core()
