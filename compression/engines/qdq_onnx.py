"""The torch int8 model written as QDQ ONNX: QuantizeLinear/DequantizeLinear with the model's own scales.

The file is written from the int8 model's reference form (torch.ao's decomposed reference model:
float ops between quantize/dequantize ops that hold the converted model's scales, zero points
and FP32 layers), so every activation's QuantizeLinear carries the scale and zero point the
int8 model derived from our ranges (clipped ranges, input range, FP32 fallbacks), and every
weight is stored as the int8 values of the int8 model with its per-channel or per-tensor scales.
This is chosen over onnxruntime's quantizer with overridden ranges: that one recomputes weight
scales its own way and names tensors by ONNX graph names, so it could not give exactly ours.

torch.onnx has no export rule for torch.ao's decomposed quantize/dequantize ops; the four rules
below (registered only while a file is written) map each one to its ONNX operator.
"""
from __future__ import annotations

import copy
import json
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence, Tuple, Union

import torch
from torch import fx, nn

from ..core.checkpoint import atomic_write
from ..core.errors import UserError
from ..quantization.int8_backend import Int8Model
from ..quiet import stdout_discarded, torch_deprecations_silenced

PathLike = Union[str, Path]
OPSET = 17
_NAMESPACE = "quantized_decomposed"
_ONNX_INT_TYPES = {torch.uint8: 2, torch.int8: 3}  # TensorProto.UINT8, TensorProto.INT8
LAYER_NAMES_KEY = "compressor.int8_weight_layers"  # metadata: int8 weight -> its layer
_FULL_RANGE = {torch.uint8: (0, 255), torch.int8: (-128, 127)}


def save_qdq_onnx(int8: Int8Model, example_inputs: Sequence[torch.Tensor], path: PathLike) -> None:
    """Write `int8` as a QDQ ONNX file (batch dimension dynamic, input `input`, output `output`)."""
    module, layer_names = qdq_module(int8)
    with torch_deprecations_silenced(), stdout_discarded(), torch.no_grad(), _export_rules():
        try:
            atomic_write(path, lambda tmp: _export(module, tuple(example_inputs), tmp, layer_names))
        except Exception as err:  # noqa: BLE001  (the exporter fails in many ways; all mean "no ONNX form")
            text = str(err).strip()
            raise UserError(f"int8 model cannot be written as QDQ ONNX: {text.splitlines()[0] if text else err}") \
                from None


def qdq_module(int8: Int8Model) -> Tuple[fx.GraphModule, Dict[str, str]]:
    """The int8 model's reference form with each quantized weighted layer's weight held as int8 values,
    and the name of the layer each int8 weight belongs to (by its name in the exported file).

    torch.ao's reference layers quantize their FP32 weight on every call (and cannot be traced for
    export); here each becomes its float layer computed with weights dequantized from stored int8.
    """
    from torch.ao.nn.intrinsic import _FusedModule

    reference = int8.reference()
    layer_names = {}
    for name, layer in list(reference.named_modules()):
        if _is_reference_layer(layer):
            _replace(reference, name, Int8WeightLayer(layer))
            parent = name.rpartition(".")[0]
            fused = bool(parent) and isinstance(reference.get_submodule(parent), _FusedModule)
            layer_names[f"{name}.weight_int8"] = parent if fused else name  # conv1 for conv1.0 of a ConvReLU2d
    return reference, layer_names


def _export(module: nn.Module, inputs: Tuple[torch.Tensor, ...], path: str, layer_names: Dict[str, str]) -> None:
    import onnx

    torch.onnx.export(module, inputs, path, opset_version=OPSET, dynamo=False, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    model = onnx.load(path)
    entry = model.metadata_props.add()
    entry.key, entry.value = LAYER_NAMES_KEY, json.dumps(layer_names)
    onnx.save(model, path)


def _is_reference_layer(module: nn.Module) -> bool:
    from torch.ao.nn.quantized.reference.modules.utils import ReferenceQuantizedModule

    return isinstance(module, ReferenceQuantizedModule)


def _replace(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


class Int8WeightLayer(nn.Module):
    """A float layer (Conv, Linear, ...) computed with its weight dequantized from int8 values."""

    def __init__(self, reference: nn.Module):
        super().__init__()
        from torch.ao.nn.quantized.reference.modules.utils import _quantize_weight_decomposed

        float_type = next(kind for kind in type(reference).__mro__[1:] if kind.__module__.startswith("torch.nn."))
        layer = copy.copy(reference)
        layer.__class__ = float_type
        layer._parameters = dict(reference._parameters)
        layer._buffers = {}
        del layer.weight
        layer.register_buffer("weight", torch.empty(0), persistent=False)  # replaced on each call
        self.layer = layer
        self.per_channel = reference.weight_qscheme in (torch.per_channel_affine,
                                                        torch.per_channel_affine_float_qparams)
        self.axis = int(reference.weight_axis_int) if self.per_channel else 0
        self.dtype = {torch.qint8: torch.int8, torch.quint8: torch.uint8}[reference.weight_dtype]
        self.quant_range = (reference.weight_quant_min, reference.weight_quant_max)
        if None in self.quant_range:
            self.quant_range = _FULL_RANGE[self.dtype]
        with torch.no_grad():
            values = _quantize_weight_decomposed(reference.weight, reference.weight_qscheme, reference.weight_dtype,
                                                 reference.weight_scale, reference.weight_zero_point,
                                                 reference.weight_axis_int, *self.quant_range)
        self.register_buffer("weight_int8", values)
        self.register_buffer("weight_scale", reference.weight_scale.detach().float().clone())
        self.register_buffer("weight_zero_point", reference.weight_zero_point.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ops = torch.ops.quantized_decomposed
        if self.per_channel:
            weight = ops.dequantize_per_channel(self.weight_int8, self.weight_scale, self.weight_zero_point,
                                                self.axis, *self.quant_range, self.dtype)
        else:
            weight = ops.dequantize_per_tensor(self.weight_int8, self.weight_scale, self.weight_zero_point,
                                               *self.quant_range, self.dtype)
        self.layer.weight = weight
        return self.layer(x)


@contextmanager
def _export_rules() -> Iterator[None]:
    """torch.onnx export rules for torch.ao's decomposed quantize/dequantize ops, while the block runs."""
    import torch.ao.quantization.fx._decomposed  # noqa: F401  (defines the quantized_decomposed ops)
    from torch.onnx import register_custom_op_symbolic, unregister_custom_op_symbolic

    rules = {"quantize_per_tensor": _quantize_per_tensor, "dequantize_per_tensor": _dequantize_per_tensor,
             "quantize_per_channel": _quantize_per_channel, "dequantize_per_channel": _dequantize_per_channel}
    for name, rule in rules.items():
        register_custom_op_symbolic(f"{_NAMESPACE}::{name}", rule, OPSET)
    try:
        yield
    finally:
        for name in rules:
            unregister_custom_op_symbolic(f"{_NAMESPACE}::{name}", OPSET)


def _quantize_per_tensor(g, x, scale, zero_point, quant_min, quant_max, dtype):
    kind = _dtype(dtype)
    quantized = g.op("QuantizeLinear", x, _scale(g, scale), _zero_point(g, zero_point, kind))
    return _clip(g, quantized, quant_min, quant_max, kind)


def _dequantize_per_tensor(g, q, scale, zero_point, quant_min, quant_max, dtype, *out_dtype):
    return g.op("DequantizeLinear", q, _scale(g, scale), _zero_point(g, zero_point, _dtype(dtype)))


def _quantize_per_channel(g, x, scales, zero_points, axis, quant_min, quant_max, dtype):
    kind = _dtype(dtype)
    quantized = g.op("QuantizeLinear", x, _scale(g, scales), _zero_point(g, zero_points, kind), axis_i=_int(axis))
    return _clip(g, quantized, quant_min, quant_max, kind)


def _dequantize_per_channel(g, q, scales, zero_points, axis, quant_min, quant_max, dtype, *out_dtype):
    return g.op("DequantizeLinear", q, _scale(g, scales), _zero_point(g, zero_points, _dtype(dtype)),
                axis_i=_int(axis))


def _clip(g, quantized, quant_min, quant_max, kind: torch.dtype):
    """QuantizeLinear saturates to the type's range; a narrower one (torch's 7-bit activations) is a Clip."""
    low, high = _int(quant_min), _int(quant_max)
    if (low, high) == _FULL_RANGE[kind]:
        return quantized
    return g.op("Clip", quantized, g.op("Constant", value_t=torch.tensor(low, dtype=kind)),
                g.op("Constant", value_t=torch.tensor(high, dtype=kind)))


def _scale(g, scale):
    return g.op("Cast", scale, to_i=1)  # TensorProto.FLOAT: QuantizeLinear's scale is float32


def _zero_point(g, zero_point, kind: torch.dtype):
    return g.op("Cast", zero_point, to_i=_ONNX_INT_TYPES[kind])


def _dtype(value) -> torch.dtype:
    from torch.onnx import symbolic_helper
    from torch.onnx._internal.torchscript_exporter import _type_utils

    kind = _type_utils.JitScalarType(symbolic_helper._maybe_get_const(value, "i")).dtype()
    if kind not in _ONNX_INT_TYPES:
        raise UserError(f"QDQ ONNX holds 8-bit integers only, not {kind}")
    return kind


def _int(value) -> int:
    from torch.onnx import symbolic_helper

    return int(symbolic_helper._maybe_get_const(value, "i"))


QDQ_OPS = ("QuantizeLinear", "DequantizeLinear", "Constant", "Identity", "Cast", "Clip")
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass(frozen=True)
class QuantizedOp:
    """An operation the int8 model runs quantized: it reads a dequantized activation, its result is quantized."""

    node: str  # its ONNX node name
    name: str  # its layer's name where it has int8 weights, else its ONNX node name
    input: str  # the dequantized activation it reads


def not_quantize_dequantize(op_type: str) -> bool:
    return op_type not in QDQ_OPS


def quantized_ops(path: PathLike) -> List[QuantizedOp]:
    """The operations of a QDQ ONNX file that sit between DequantizeLinear and QuantizeLinear.

    An op whose weights are FP32 (a layer the int8 model keeps in FP32) is not one of them.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    names = json.loads(next((p.value for p in model.metadata_props if p.key == LAYER_NAMES_KEY), "{}"))
    constants = {tensor.name for tensor in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    readers: Dict[str, List] = {}
    for node in graph.node:
        for tensor in node.input:
            readers.setdefault(tensor, []).append(node)
    ops = []
    for node in graph.node:
        source = producers.get(node.input[0]) if node.input else None
        if not not_quantize_dequantize(node.op_type) or source is None or source.op_type != "DequantizeLinear" \
                or _constant(source.input[0], producers, constants) is not None:
            continue
        weight = _int8_weight(node, producers, constants)
        if node.op_type in WEIGHTED_OPS and weight is None or not _quantized_after(node, readers):
            continue
        ops.append(QuantizedOp(node.name, names.get(weight, weight.removesuffix(".weight_int8")) if weight else
                               node.name, node.input[0]))
    return ops


def _constant(tensor: str, producers: Dict, constants: set):
    """The initializer `tensor` is (through Identity nodes), or None for a computed tensor."""
    while tensor not in constants:
        node = producers.get(tensor)
        if node is None or node.op_type != "Identity":
            return None
        tensor = node.input[0]
    return tensor


def _int8_weight(node, producers: Dict, constants: set):
    source = producers.get(node.input[1]) if len(node.input) > 1 else None
    if source is None or source.op_type != "DequantizeLinear":
        return None
    return _constant(source.input[0], producers, constants)


def _quantized_after(node, readers: Dict) -> bool:
    """Whether the node's result is quantized, directly or after a Relu fused into it."""
    after = readers.get(node.output[0], [])
    return any(reader.op_type == "QuantizeLinear" or reader.op_type == "Relu" and _quantized_after(reader, readers)
               for reader in after)
