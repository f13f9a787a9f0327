"""onnxruntime: runs an ONNX file (FP32, or int8 from QDQ) on the CPU; the only module that imports it."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple, Union

import torch

from ..core.errors import UserError, first_line
from .engine_model import EngineModel
from .qdq_onnx import QuantizedOp, not_quantize_dequantize, quantized_ops
from .registry import require_engine

PathLike = Union[str, Path]
NO_INT8 = "onnxruntime has no int8 kernel for it: it runs in FP32 between DequantizeLinear and QuantizeLinear"


def load(path: PathLike, threads: Optional[int] = None) -> EngineModel:
    """An InferenceSession of the file (all graph optimizations, CPU), `threads` intra-op threads (default torch's)."""
    session = _session(path, threads)
    declared = session.get_inputs()[0]
    dims = [dim if isinstance(dim, int) else None for dim in declared.shape]
    import onnxruntime

    quiet = onnxruntime.RunOptions()
    quiet.log_severity_level = 4  # a run that fails raises its error: it is not also printed to stderr
    return EngineModel("onnxruntime", str(path), lambda batch: session.run(None, {declared.name: batch}, quiet)[0],
                       dims, session=session)


def fp32_ops(path: PathLike, ops: Optional[List[QuantizedOp]] = None) -> Dict[str, str]:
    """The int8 model's quantized operations that onnxruntime runs in FP32 (name -> why).

    onnxruntime fuses DequantizeLinear -> op -> QuantizeLinear into one int8 kernel where it has
    one; an op that still reads its dequantized input after optimization runs in FP32.
    """
    import onnx

    ops = quantized_ops(path) if ops is None else ops
    with tempfile.TemporaryDirectory() as folder:
        optimized = str(Path(folder) / "optimized.onnx")
        _session(path, 1, optimized)
        graph = onnx.load(optimized).graph
    names = {op.node for op in ops}
    original = _dequantized_as({op.input for op in ops}, graph)
    float_readers: Dict[str, List[str]] = {}
    for node in graph.node:
        if not_quantize_dequantize(node.op_type):
            for tensor in node.input:
                float_readers.setdefault(original.get(tensor, tensor), []).append(node.name)
    return {op.name: NO_INT8 for op in ops
            if any(reader == op.node or reader not in names for reader in float_readers.get(op.input, []))}


def _dequantized_as(inputs: Set[str], graph) -> Dict[str, str]:
    """Each DequantizeLinear output of the optimized graph -> the one of `inputs` it copies.

    onnxruntime gives each reader of a shared DequantizeLinear its own copy (same inputs, a new name).
    """
    copies: Dict[Tuple[str, ...], List[str]] = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear":
            copies.setdefault(tuple(node.input), []).append(node.output[0])
    found = {}
    for outputs in copies.values():
        known = [output for output in outputs if output in inputs]
        found.update({output: known[0] for output in outputs if known and output not in inputs})
    return found


def _session(path: PathLike, threads: Optional[int], optimized_path: Optional[str] = None):
    require_engine("onnxruntime")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # errors only: its warnings about unused initializers say nothing to a user
    # its worker threads spin inside a run, and stop when it returns instead of spinning on for tens of
    # milliseconds, when they would slow whatever runs next on these cores (another engine being timed)
    options.add_session_config_entry("session.force_spinning_stop", "1")
    if optimized_path is not None:  # the QDQ fusions happen at the extended level; "all" adds layout-only changes
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = optimized_path
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001  (onnxruntime raises its own exception types for a bad file)
        raise UserError(f"onnxruntime cannot load {path}: {first_line(err)}") from None
