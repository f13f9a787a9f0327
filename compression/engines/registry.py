"""The engines a model can be run on, whether each is installed here, and how to install it."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Dict, List

from ..core.errors import UserError, did_you_mean


@dataclass
class Engine:
    name: str
    description: str
    package: str  # the Python package the engine needs
    install_hint: str
    label: str  # how a report names it

    def is_installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


ENGINES: Dict[str, Engine] = {engine.name: engine for engine in (
    Engine("torch", "PyTorch: eager FP32, and int8 through torch.ao's x86/onednn quantized kernels", "torch",
           "pip install torch", "PyTorch"),
    Engine("onnxruntime", "onnxruntime (CPU): ONNX files; int8 from a QDQ file (QLinearConv, QGemm, ...)",
           "onnxruntime", "pip install onnxruntime", "onnxruntime"),
    Engine("openvino", "OpenVINO (CPU): ONNX files and OpenVINO IR; int8 from a QDQ file", "openvino",
           "pip install openvino", "OpenVINO"),
)}
AUTO = "auto"
ENGINE_CHOICES = tuple(ENGINES) + (AUTO,)  # `--engine`: one engine, or the fastest installed
FP32_LABELS = {"torch": "PyTorch eager FP32", "onnxruntime": "onnxruntime FP32", "openvino": "OpenVINO FP32"}


def engine(name: str) -> Engine:
    """The engine called `name`; an unknown name raises UserError with the known ones."""
    if name not in ENGINES:
        raise UserError("engine: " + did_you_mean(name, list(ENGINES), "engine"))
    return ENGINES[name]


def require_engine(name: str) -> Engine:
    """The engine called `name`, installed; else a UserError that says how to install it."""
    found = engine(name)
    if not found.is_installed():
        raise UserError(f"{found.name} is not installed: {found.install_hint}")
    return found


def installed_engines() -> List[str]:
    return [name for name, found in ENGINES.items() if found.is_installed()]
