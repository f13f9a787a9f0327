"""A model on each engine: the FP32 model on every installed engine, the int8 model on a chosen one,
and an exported file (.onnx, OpenVINO .xml) on the engine that runs it."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import nn

from ..core.errors import UserError, first_line
from ..quantization.int8_backend import Int8Model
from ..quiet import CallableModule
from .onnx_fp32 import save_fp32_onnx
from .registry import engine, installed_engines, require_engine

PathLike = Union[str, Path]
EXPORTED_SUFFIXES = {".onnx": "onnxruntime", ".xml": "openvino"}  # the engine that runs each by default


def fp32_engine_models(model: nn.Module, batch: torch.Tensor, folder: PathLike
                       ) -> Tuple[Dict[str, nn.Module], Dict[str, str]]:
    """engine name -> the FP32 model run by that engine, for every installed engine; and the engines
    left out, with why (a model torch.onnx cannot export, a file an engine cannot load).

    PyTorch runs `model` eagerly; the others run one FP32 ONNX file written into `folder`.
    """
    models: Dict[str, nn.Module] = {"torch": model.eval()}
    others = [name for name in installed_engines() if name != "torch"]
    skipped: Dict[str, str] = {}
    if not others:
        return models, skipped
    path = Path(folder) / "model_fp32.onnx"
    try:
        save_fp32_onnx(model.eval(), batch, path)
    except Exception as err:  # noqa: BLE001  (the exporter fails in many ways; all mean "no ONNX form")
        return models, {name: f"no FP32 ONNX file: {first_line(err)}" for name in others}
    for name in others:
        try:
            models[name] = load_file(name, path)
        except UserError as err:
            skipped[name] = str(err)
    return models, skipped



def int8_engine_model(name: str, int8: Int8Model, qdq_path: Optional[PathLike]) -> nn.Module:
    """The int8 model on engine `name`: torch's own int8 module, or the QDQ file run by the engine."""
    if name == "torch":
        return CallableModule(int8)
    if qdq_path is None:
        raise UserError(f"the {name} int8 model runs a QDQ ONNX file: none was written")
    return load_file(name, qdq_path)


def load_file(name: str, path: PathLike) -> nn.Module:
    require_engine(name)
    if name == "onnxruntime":
        from . import onnxruntime_engine

        return onnxruntime_engine.load(path)
    if name == "openvino":
        from . import openvino_engine

        return openvino_engine.load(path)
    raise UserError(f"the {name} engine does not run files: one of {', '.join(EXPORTED_SUFFIXES.values())}")


def load_exported(path: PathLike, engine_name: Optional[str] = None) -> nn.Module:
    """An exported file on its engine: .onnx in onnxruntime (or `engine_name`), .xml (OpenVINO IR) in OpenVINO."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORTED_SUFFIXES:
        raise UserError(f"{path}: not a file an engine runs here (expected .onnx, or .xml for OpenVINO IR)")
    if not path.is_file():
        raise UserError(f"exported file not found: {path}")
    name = engine_name or EXPORTED_SUFFIXES[suffix]
    engine(name)
    if suffix == ".xml" and name != "openvino":
        raise UserError(f"{path}: OpenVINO IR runs in openvino, not {name}")
    return load_file(name, path)
