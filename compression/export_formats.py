"""The formats `export` writes, without torch: `compressor export --help` lists them."""
from __future__ import annotations

from .core.errors import UserError

GRAPH_FORMATS = ("onnx", "pt2", "torchscript", "openvino")
FORMATS = GRAPH_FORMATS + ("packed",)  # packed files: compression/packing.py
FORMAT_ALIASES = {"exported": "pt2"}  # the torch.export name the product's roadmap uses


def format_name(fmt: str) -> str:
    """The format `fmt` names (an alias resolved); unknown ones raise UserError."""
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}': one of {', '.join(FORMATS + tuple(FORMAT_ALIASES))}")
    return fmt
