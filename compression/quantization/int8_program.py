"""The int8 model as a `torch.export` ExportedProgram (`.pt2`) made of PyTorch's core ops only.

`torch.export.load(path).module()` runs it with nothing but torch installed: no custom op,
no TorchScript, no engine setting. The file holds each Conv/Linear weight as int8 (with its
per-channel scales and zero points, dequantized in the graph) and every activation quantized
to the int8 model's own scales and zero points (round and clamp). Kernels
are float: in eager it computes what the int8 model computes at float speed; a compiler that
lowers quantize/dequantize patterns (or onnxruntime, for the ONNX file) gives int8 speed.

Written by hand because torch's own int8 export (pt2e) moved out of torch, and its
reference form keeps FP32 weights and ops (quantized_decomposed) that a plain torch cannot load.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..core.checkpoint import atomic_write
from ..core.errors import UserError
from .int8_backend import Int8Model

PathLike = Union[str, Path]
_DECOMPOSED = "quantized_decomposed."


class Int8WeightConv2d(nn.Module):
    """A Conv2d whose weight is stored as int8 and dequantized on each call."""

    def __init__(self, reference: nn.Module):
        super().__init__()
        self.stride, self.padding = reference.stride, reference.padding
        self.dilation, self.groups = reference.dilation, reference.groups
        _store_int8_weight(self, reference)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, _dequantized(self), self.bias, self.stride, self.padding, self.dilation, self.groups)


class Int8WeightLinear(nn.Module):
    """A Linear whose weight is stored as int8 and dequantized on each call."""

    def __init__(self, reference: nn.Module):
        super().__init__()
        _store_int8_weight(self, reference)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, _dequantized(self), self.bias)


def save_int8_program(int8: Int8Model, example_inputs: Sequence[torch.Tensor], path: PathLike) -> int:
    """Write `int8` as an ExportedProgram (batch dimension dynamic); returns the file's size in bytes."""
    module = plain_ops_module(int8.reference())
    program = _export(module, tuple(example_inputs))
    return _save(program, path)


def save_fp32_program(model: nn.Module, example_inputs: Sequence[torch.Tensor], path: PathLike) -> int:
    """Write an FP32 model as an ExportedProgram (batch dimension dynamic); returns its size in bytes."""
    program = _export(model.eval(), tuple(example_inputs))
    return _save(program, path)


def load_program(path: PathLike) -> nn.Module:
    """Load a `.pt2` file as a callable module (what a user does: `torch.export.load(path).module()`)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:
        return torch.export.load(str(path)).module()
    except Exception as err:  # noqa: BLE001  (every failure means: not a loadable ExportedProgram)
        raise UserError(f"{path} is not an ExportedProgram file: {str(err).strip().splitlines()[0]}") from None


def plain_ops_module(reference: fx.GraphModule) -> fx.GraphModule:
    """Rewrite a decomposed reference int8 graph into core ops: int8 weights, fake-quantized activations."""
    for name, module in list(reference.named_modules()):
        replacement = _int8_weight_module(module)
        if replacement is not None:
            _set_submodule(reference, name, replacement)
    _fake_quantize_activations(reference.graph)
    left = sorted({str(node.target) for node in reference.graph.nodes
                   if node.op == "call_function" and str(node.target).startswith(_DECOMPOSED)})
    if left:
        raise UserError(f"int8 model cannot be written as an ExportedProgram: unsupported ops {', '.join(left)}")
    reference.graph.eliminate_dead_code()
    reference.graph.lint()
    reference.recompile()
    return reference


def _save(program: torch.export.ExportedProgram, path: PathLike) -> int:
    program.example_inputs = None  # the file holds the model, not the (user's) images it was traced on
    buffer = io.BytesIO()  # torch.export.save wants a name ending in .pt2, the atomic write's is not
    torch.export.save(program, buffer)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))
    return Path(path).stat().st_size


def _export(module: nn.Module, example_inputs: tuple) -> torch.export.ExportedProgram:
    # a batch of one would fix the batch size: export sees two copies of each example
    example_inputs = tuple(x[:1].expand(2, *x.shape[1:]).contiguous() for x in example_inputs)
    shapes = tuple({0: torch.export.Dim("batch")} for _ in example_inputs)
    try:
        with torch.no_grad():
            return torch.export.export(module, example_inputs, dynamic_shapes=shapes)
    except Exception as err:  # noqa: BLE001  (export fails in many ways; all mean "not exportable")
        raise UserError(f"torch.export cannot capture the model: {type(err).__name__}: "
                        f"{str(err).strip().splitlines()[0]}") from None


def _int8_weight_module(module: nn.Module):
    """The int8-weight replacement of a reference quantized Conv2d/Linear, or None for anything else."""
    if not hasattr(module, "weight_qscheme") or not hasattr(module, "get_weight"):
        return None
    if isinstance(module, nn.Conv2d):
        return Int8WeightConv2d(module)
    if isinstance(module, nn.Linear):
        return Int8WeightLinear(module)
    raise UserError(f"int8 model cannot be written as an ExportedProgram: no int8 form for {type(module).__name__}")


def _store_int8_weight(target: nn.Module, reference: nn.Module) -> None:
    weight = reference.weight.detach()
    scale = reference.weight_scale.detach().float()
    zero_point = reference.weight_zero_point.detach()
    if reference.weight_qscheme in (torch.per_channel_affine, torch.per_channel_symmetric):
        axis = int(reference.weight_axis_int)
        quantized = torch.quantize_per_channel(weight, scale, zero_point, axis, torch.qint8)
        view = [1] * weight.dim()
        view[axis] = -1
        scale, zero_point = scale.reshape(view), zero_point.reshape(view)
    else:
        quantized = torch.quantize_per_tensor(weight, float(scale), int(zero_point), torch.qint8)
    target.register_buffer("weight_int8", quantized.int_repr())
    target.register_buffer("weight_scale", scale.clone())
    target.register_buffer("weight_zero_point", zero_point.float().clone())
    bias = reference.bias
    target.register_buffer("bias", None if bias is None else bias.detach().clone())


def _dequantized(module: nn.Module) -> torch.Tensor:
    return (module.weight_int8.float() - module.weight_zero_point) * module.weight_scale


def _fake_quantize_activations(graph: fx.Graph) -> None:
    """dequantize(quantize(x, s, z, lo, hi)) -> fake_quantize(x, s, z, lo, hi)."""
    for node in list(graph.nodes):
        if not _is_decomposed(node, "dequantize_per_tensor"):
            continue
        source = node.args[0]
        if not isinstance(source, fx.Node) or not _is_decomposed(source, "quantize_per_tensor"):
            continue
        x, scale, zero_point, low, high = source.args[:5]
        if any(isinstance(arg, fx.Node) for arg in (scale, zero_point, low, high)):
            continue  # tensor-valued quantization parameters: left for the unsupported-op check
        with graph.inserting_before(node):
            fake = graph.call_function(fake_quantize, (x, float(scale), int(zero_point), int(low), int(high)))
        node.replace_all_uses_with(fake)
        graph.erase_node(node)
        if not source.users:
            graph.erase_node(source)


def fake_quantize(x: torch.Tensor, scale: float, zero_point: int, low: int, high: int) -> torch.Tensor:
    """x rounded to the int8 grid of (scale, zero_point) and clamped to [low, high], in float.

    Plain arithmetic ops: torch's fused fake-quantize op has no form torch.export can capture
    with a dynamic batch.
    """
    return (torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, low, high) - zero_point) * scale


def _is_decomposed(node: fx.Node, op: str) -> bool:
    return node.op == "call_function" and str(node.target).startswith(_DECOMPOSED + op)


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)
