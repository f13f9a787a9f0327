"""Deployable files: ONNX (FP32, or int8 as QuantizeLinear/DequantizeLinear), torch.export
ExportedProgram (`.pt2`, FP32 or int8 weights with quantized activations), TorchScript and
OpenVINO IR (`.xml` + `.bin`: FP32, or int8 from the QDQ file of the int8 model, its scales).

Every file written is loaded back and run once in its runtime (onnxruntime, torch.export, TorchScript, OpenVINO)
and compared with PyTorch: `max_abs_diff` of the outputs, and for int8 the fraction of
images whose top-1 class agrees with the PyTorch int8 model.

Int8 ONNX is the PyTorch int8 model itself in QDQ form (the same scales, zero points and
FP32 layers; engines/qdq_onnx.py, the one writer of int8 ONNX), so any runtime that reads QDQ
graphs runs it; an op with no int8 form stays FP32 between its DequantizeLinear and
QuantizeLinear. Where the model cannot be written that way at all, onnxruntime's static
quantizer makes the int8 file from the FP32 one instead, calibrated on the same images
(per-channel int8 weights, uint8 activations), and `quantized_by` says so.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..datasets import DatasetConfig, build_datasets
from .core.checkpoint import atomic_write
from .core.errors import UserError, first_line
from .engines.onnx_fp32 import save_fp32_onnx
from .engines.qdq_onnx import save_qdq_onnx
from .export_formats import GRAPH_FORMATS, format_name
from .core.forward import forward_or_refuse
from .model_source import LoadedModel
from .quantization.int8_backend import Int8Model, convert_to_int8
from .quantization.int8_program import load_program, save_fp32_program, save_int8_program
from .quantization.int8_files import file_bytes, load_int8_torchscript, save_int8_torchscript
from .quiet import torch_deprecations_silenced

OPSET = 17
PathLike = Union[str, Path]


@dataclass
class ExportResult:
    out: str
    format: str
    int8: bool
    max_abs_diff: float
    file_bytes: int
    top1_agreement: Optional[float] = None
    quantized_by: Optional[str] = None  # int8 ONNX: which quantization the file holds

    def to_dict(self) -> Dict[str, Any]:
        return {key: value for key, value in asdict(self).items()
                if value is not None or key not in ("top1_agreement", "quantized_by")}


def export_fp32(model: nn.Module, input_shape: Sequence[int], fmt: str, out: PathLike,
                batch_size: int = 2, seed: int = 0) -> ExportResult:
    """Write the FP32 model as `fmt`, run the file once on a fixed random batch, compare."""
    _check_format(fmt)
    if fmt == "onnx":
        require_onnx()
    model = model.eval()
    batch = torch.randn(batch_size, *input_shape, generator=torch.Generator().manual_seed(seed))
    expected = forward_or_refuse(model, batch, f"a batch of input_shape {tuple(batch.shape[1:])} (C, H, W)")
    if fmt == "onnx":
        atomic_write(out, lambda tmp: _onnx_fp32(model, batch, tmp))
        actual = run_onnx(out, batch)
    elif fmt == "openvino":
        out = openvino_ir_path(out)
        _openvino_ir(out, lambda tmp: save_fp32_onnx(model, batch, tmp))
        actual = run_openvino(out, batch)
    elif fmt == "pt2":
        save_fp32_program(model, (batch,), out)
        actual = run_program(out, batch)
    else:
        atomic_write(out, lambda tmp: _torchscript_fp32(model, batch, tmp))
        actual = _run_torchscript(out, batch)
    return ExportResult(str(out), fmt, False, max_abs_diff(actual, expected), _file_bytes(out))


def export_int8(model: nn.Module, fmt: str, out: PathLike, calibration: torch.Tensor,
                engine: str = "x86", batch_size: int = 16) -> ExportResult:
    """Convert to int8 calibrated on `calibration` images, write `fmt`, run it once and compare.

    The comparison is with the PyTorch int8 model, on the calibration images.
    """
    _check_format(fmt)
    if fmt == "onnx":
        require_onnx()
    model = model.eval()
    batches = list(calibration.split(batch_size))
    int8 = convert_to_int8(model, (batches[0],), batches, engine=engine)
    return write_int8(int8, fmt, out, calibration, model, batch_size)


def write_int8(int8: Int8Model, fmt: str, out: PathLike, images: torch.Tensor, fp32: Optional[nn.Module] = None,
               batch_size: int = 16) -> ExportResult:
    """Write a converted int8 model as `fmt`, run the file on `images` and compare with `int8`.

    An int8 op with no ONNX form makes onnxruntime's quantizer build the file from `fp32`
    (calibrated on `images`) when it is given; without it that is an error.
    """
    _check_format(fmt)
    batches = list(images.split(batch_size))
    expected = int8(images)
    quantized_by = None
    if fmt == "onnx":
        require_onnx()
        quantized_by = _onnx_int8(int8, fp32, batches, out)
        actual = run_onnx(out, images)
    elif fmt == "pt2":
        save_int8_program(int8, (batches[0],), out)
        actual = run_program(out, images)
    elif fmt == "openvino":
        out = openvino_ir_path(out)
        _openvino_ir(out, lambda tmp: save_qdq_onnx(int8, (batches[0],), tmp))
        actual = run_openvino(out, images)
        quantized_by = "the PyTorch int8 model (QDQ ONNX of its scales, converted to OpenVINO IR)"
    else:
        save_int8_torchscript(int8, (batches[0],), out)
        actual = _run_torchscript(out, images, int8.engine)
    return ExportResult(str(out), fmt, True, max_abs_diff(actual, expected), _file_bytes(out),
                        top1_agreement(actual, expected), quantized_by)


def export(model: Union[nn.Module, Int8Model], out: PathLike, fmt: str = "onnx",
           input_shape: Optional[Sequence[int]] = None, calibration: Optional[torch.Tensor] = None) -> ExportResult:
    """Write `model` as `fmt` ("onnx", "pt2", "torchscript" or "openvino"), load it back, run it once and compare.

    For "openvino", `out` is the IR's .xml path, or a folder to write model.xml and model.bin in.

    An FP32 model needs `input_shape` (C, H, W); with `calibration` images (N, C, H, W) it is
    converted to int8 first, calibrated on them, and compared with the PyTorch int8 model. An
    int8 model (`PostTrainLinearQuantizer.convert_to_int8()`) is written as it is, and run on
    `calibration` (or zeros of `input_shape`) to compare.

    >>> result = export(model, "model.onnx", "onnx", input_shape=(3, 32, 32))
    >>> result = export(model, "model_int8.pt2", "pt2", calibration=images[:64])
    >>> result = export(model, "ir/", "openvino", input_shape=(3, 32, 32))
    """
    fmt = format_name(fmt)
    if isinstance(model, Int8Model):
        if calibration is None and input_shape is None:
            raise UserError("export of an int8 model needs calibration images or input_shape to run it on")
        images = calibration if calibration is not None else torch.zeros(2, *input_shape)
        return write_int8(model, fmt, out, images)
    if calibration is not None:
        return export_int8(model, fmt, out, calibration)
    if input_shape is None:
        raise UserError("export needs input_shape (C, H, W) for an FP32 file, or calibration images for int8")
    return export_fp32(model, input_shape, fmt, out)


def calibration_images(loaded: LoadedModel, config: DatasetConfig, size: int) -> torch.Tensor:
    """The first `size` images of the training split of the model's dataset (fewer if it is smaller)."""
    if size < 1:
        raise UserError(f"calibration size must be at least 1, got {size}")
    splits = build_datasets(config, loaded.info.input_shape, loaded.info.num_classes, seed=0)
    subset = Subset(splits.train, range(min(size, len(splits.train))))
    images = [inputs for inputs, _ in DataLoader(subset, batch_size=config.batch_size, shuffle=False)]
    if not images:
        raise UserError(f"dataset '{config.name}' has no training images to calibrate on")
    return torch.cat(images)


def require_onnx() -> None:
    """ONNX files need the `export` extra; say how to get it instead of an ImportError."""
    import importlib.util

    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"ONNX files need {' and '.join(missing)}: pip install 'compressor[export]'")


def run_onnx(path: PathLike, batch: torch.Tensor) -> torch.Tensor:
    """Run an ONNX file once in onnxruntime (CPU) on `batch`."""
    require_onnx()
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return torch.from_numpy(session.run(None, {name: batch.numpy()})[0])


def run_program(path: PathLike, batch: torch.Tensor) -> torch.Tensor:
    """Run a `.pt2` file once as a user would: `torch.export.load(path).module()(batch)`."""
    with torch.no_grad():
        return load_program(path)(batch)


def top1_agreement(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return (actual.argmax(1) == expected.argmax(1)).float().mean().item()


def openvino_ir_path(out: PathLike) -> Path:
    """The IR's .xml path: `out` itself when it ends in .xml, else model.xml inside the folder `out`."""
    out = Path(out)
    return out if out.suffix.lower() == ".xml" else out / "model.xml"


def _openvino_ir(xml_path: Path, write_onnx) -> None:
    """OpenVINO IR converted from the ONNX file that `write_onnx(path)` writes (in a temporary folder)."""
    from .engines.openvino_engine import save_ir
    from .engines.registry import require_engine

    require_engine("openvino")
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = str(Path(folder) / "model.onnx")
        write_onnx(onnx_path)
        save_ir(onnx_path, xml_path)


def run_openvino(path: PathLike, batch: torch.Tensor) -> torch.Tensor:
    """Run an OpenVINO IR (or ONNX) file once in OpenVINO (CPU) on `batch`."""
    from .engines.openvino_engine import load

    with torch.no_grad():
        return load(path)(batch)


def _file_bytes(out: PathLike) -> int:
    """The file's size; for OpenVINO IR, the .xml and its .bin together."""
    out = Path(out)
    size = file_bytes(out)
    if out.suffix == ".xml" and out.with_suffix(".bin").is_file():
        size += file_bytes(out.with_suffix(".bin"))
    return size


def _check_format(fmt: str) -> None:
    if fmt == "packed":
        raise UserError("a packed file is written from a checkpoint's model: compressor export --format packed "
                        "(compression.packing.export_packed)")
    if fmt not in GRAPH_FORMATS:
        raise UserError(f"unknown export format '{fmt}' (available: {', '.join(GRAPH_FORMATS)})")


def _onnx_fp32(model: nn.Module, batch: torch.Tensor, path: str) -> None:
    save_fp32_onnx(model, batch, path)


def _onnx_int8(int8: Int8Model, model: Optional[nn.Module], batches: Sequence[torch.Tensor], out: PathLike) -> str:
    """Write the int8 ONNX file; returns where its quantization comes from."""
    try:
        save_qdq_onnx(int8, (batches[0],), out)
        return "the PyTorch int8 model"
    except UserError as err:
        if model is None:
            raise
        atomic_write(out, lambda tmp: _onnx_static_quantized(model, batches, tmp))
        return f"onnxruntime's static quantizer ({first_line(err)})"


def _onnx_static_quantized(model: nn.Module, batches: Sequence[torch.Tensor], path: str) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as folder:
        fp32_path, ready_path = str(Path(folder) / "fp32.onnx"), str(Path(folder) / "ready.onnx")
        _onnx_fp32(model, batches[0], fp32_path)
        quant_pre_process(fp32_path, ready_path)  # shape inference and graph cleanup, as onnxruntime advises
        quantize_static(ready_path, path, _CalibrationReader(batches), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)


class _CalibrationReader:
    """onnxruntime's CalibrationDataReader protocol over a list of batches."""

    def __init__(self, batches: Sequence[torch.Tensor]):
        self._batches = iter([{"input": batch.numpy()} for batch in batches])

    def get_next(self) -> Optional[Dict[str, Any]]:
        return next(self._batches, None)


def _torchscript_fp32(model: nn.Module, batch: torch.Tensor, path: str) -> None:
    with torch_deprecations_silenced(), torch.no_grad():
        torch.jit.save(torch.jit.trace(model, (batch,)), path)


def _run_torchscript(path: PathLike, batch: torch.Tensor, engine: str = "x86") -> torch.Tensor:
    module = load_int8_torchscript(path, engine)  # loads any TorchScript file under the engine
    with torch.no_grad():
        return module(batch)


def max_abs_diff(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return (actual.float() - expected.float()).abs().max().item()
