"""A post-training quantized model as a packed file (`quantize --stats ... --pack`): model_int8.cpk.

The file holds the FP32 model's record (architecture, thinning, factorization) with each int8 layer's
weights as the int8 model computes with them: its BatchNorm folded in (the BatchNorm recorded in
`folded_batchnorm` becomes an Identity), the int8 integers times their per-channel (or per-tensor)
scales, stored by the codec's grid encoding as k-bit integers and one step per channel, and the folded
FP32 bias. The `ptq` record keeps the scales and zero points, the activation ranges, the input range,
the layers left in FP32 and the linear_quant_params. `load_packed_model` gives the FP32 model whose
weights are the dequantized int8 weights; `load_packed_int8` converts it to int8 again with the
recorded ranges and the recorded int8 weights as they are, which computes what the quantized model did.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .core.checkpoint import atomic_write, load_checkpoint
from .core.errors import UserError
from .core.packed import as_dicts, pack_bytes
from .model_source import LoadedModel
from .models import build_model
from .packing import PackResult, check_same_weights, fp32_bytes, plain_state, model_record
from .pruning.batchnorm import following_batchnorm
from .quantization.int8_backend import Int8Model, convert_to_int8
from .quiet import CallableModule
from .restore import model_from_checkpoint

Range = Tuple[float, float]


@dataclass
class Int8Settings:
    """What `convert_to_int8` was given, to record beside the weights."""

    per_channel: bool
    activation_ranges: Dict[str, Range]
    input_range: Optional[Range] = None
    fp32_modules: List[str] = field(default_factory=list)
    quant_params: Dict[str, Any] = field(default_factory=dict)  # linear_quant_params, as in quant_params.yaml


def export_packed_int8(loaded: LoadedModel, model: nn.Module, int8: Int8Model, settings: Int8Settings,
                       out: Union[str, Path], batch: torch.Tensor) -> PackResult:
    """Write the int8 model `int8` (converted from `model`) packed to `out`, load it back, convert it
    again and compare its outputs on `batch` with `int8`'s (`max_abs_diff`)."""
    state, steps, weights = _int8_state(int8, plain_state(model))
    folded = _folded_batchnorm(model, int8, weights)
    for bn in folded.values():
        for key in [key for key in state if key.startswith(bn + ".")]:
            del state[key]
    base = model_record(loaded)
    record = {**base, "qat": [], "folded_batchnorm": {**(base.get("folded_batchnorm") or {}), **folded}, "ptq": {
        "engine": int8.engine, "int8_folded_batchnorm": folded, "per_channel": settings.per_channel,
        "activation_ranges": {name: [float(low), float(high)] for name, (low, high) in settings.activation_ranges.items()},
        "input_range": None if settings.input_range is None else [float(v) for v in settings.input_range],
        "fp32_modules": list(settings.fp32_modules), "weights": weights,
        "observer_qparams": int8.observer_qparams(), "linear_quant_params": settings.quant_params}}
    record.pop("quantized_weights", None)
    data, report = pack_bytes(state, record, steps)
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(data))
    payload = load_checkpoint(out)
    check_same_weights(model_from_checkpoint(payload)[0].state_dict(), state, out)
    rebuilt = int8_from_payload(payload)
    diff = float((rebuilt(batch) - int8(batch)).abs().max())
    dense = build_model(loaded.info.name, num_classes=loaded.info.num_classes, input_shape=loaded.info.input_shape)
    return PackResult(str(out), len(data), fp32_bytes(model), fp32_bytes(dense),
                      diff, sorted(weights), as_dicts(report))


def _int8_state(int8: Int8Model, state: Dict[str, torch.Tensor]):
    """`state` with each int8 layer's weight dequantized and its (folded) bias; the grid steps; the scales."""
    steps, weights = {}, {}
    for name, module in int8.module.named_modules():
        if not callable(getattr(module, "weight", None)):
            continue
        q = module.weight()
        per_channel = q.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
        scale = q.q_per_channel_scales() if per_channel else torch.tensor([q.q_scale()], dtype=torch.float64)
        zero = q.q_per_channel_zero_points() if per_channel else torch.tensor([q.q_zero_point()])
        shape = (-1,) + (1,) * (q.dim() - 1)
        # the codec's grid decodes integers x float32 step: the same product gives back these bits
        state[f"{name}.weight"] = (q.int_repr().float() - zero.view(shape).float()) * scale.float().view(shape)
        steps[f"{name}.weight"] = scale.float().expand(q.shape[0]).clone() if not per_channel else scale.float()
        bias = module.bias()
        if bias is not None:
            state[f"{name}.bias"] = bias.detach().clone()
        weights[name] = {"scale": scale.float(),  # float32 values: torch's observers compute scales in float32
                         "zero_point": zero.clone(),
                         "axis": q.q_per_channel_axis() if per_channel else None}
    return state, steps, weights


def _folded_batchnorm(model: nn.Module, int8: Int8Model, layers: Dict[str, Any]) -> Dict[str, str]:
    """{conv: BatchNorm} for each int8 convolution whose BatchNorm the int8 model folded in."""
    kept = {name for name, _ in int8.module.named_modules()}
    folded = {}
    for name in layers:
        if isinstance(model.get_submodule(name), nn.Conv2d):
            found = following_batchnorm(model, name)
            if found is not None and found[0] not in kept:
                folded[name] = found[0]
    return folded


def int8_from_payload(payload: Dict[str, Any], calibration: Optional[Iterable[torch.Tensor]] = None) -> Int8Model:
    """The int8 model of a packed int8 file's payload, converted again from its record."""
    ptq = payload.get("ptq")
    if not ptq:
        raise UserError("this file holds no int8 model: write one with `compressor quantize --stats STATS --pack`")
    model, info = model_from_checkpoint(payload)
    state = model.state_dict()
    weights = {name: (_requantized(state[f"{name}.weight"], record), state.get(f"{name}.bias"))
               for name, record in ptq["weights"].items()}
    # files written before training could fold BatchNorms record only the int8 kernels' folds
    _batchnorm_places(model, ptq.get("int8_folded_batchnorm", payload.get("folded_batchnorm") or {}))
    example = torch.zeros(1, *info.input_shape)
    ranges = {name: tuple(bounds) for name, bounds in ptq["activation_ranges"].items()}
    input_range = tuple(ptq["input_range"]) if ptq.get("input_range") else None
    # files from before observer_qparams were recorded: ops left out of the ranges calibrate on `calibration`
    return convert_to_int8(model, (example,), list(calibration or [example]), ptq["fp32_modules"], ptq["per_channel"],
                           ranges, ptq["engine"], input_range, weights, ptq.get("observer_qparams"))


def _requantized(weight: torch.Tensor, record: Dict[str, Any]) -> torch.Tensor:
    """The int8 weight back from its dequantized values (on the grid, so rounding gives back each integer)."""
    scale, zero = record["scale"].double(), record["zero_point"]
    with warnings.catch_warnings():  # torch.ao's own int8 tensors: the deprecation is of the API, said elsewhere
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        if record["axis"] is None:
            return torch.quantize_per_tensor(weight, float(scale[0]), int(zero[0]), torch.qint8)
        return torch.quantize_per_channel(weight, scale, zero, int(record["axis"]), torch.qint8)


def _batchnorm_places(model: nn.Module, folded: Dict[str, str]) -> None:
    """A fresh BatchNorm at each folded one's place, so the converter fuses the layers as it did the first
    time; its folded weights are then replaced by the recorded int8 weights and bias."""
    for conv_name, bn_name in folded.items():
        parent, _, child = bn_name.rpartition(".")
        bn = nn.BatchNorm2d(model.get_submodule(conv_name).out_channels).eval()
        setattr(model.get_submodule(parent) if parent else model, child, bn)


def load_packed_int8(path: Union[str, Path], calibration: Optional[Sequence[torch.Tensor]] = None) -> Int8Model:
    """The int8 model of a packed file written by `quantize --pack` (model_int8.cpk), on int8 kernels.

    Every activation's scale and zero point are recorded in the file, so no data is needed; files
    written before they were recorded take the ranges of activations the statistics file did not name
    from `calibration` (a zero image when not given).

    >>> int8 = load_packed_int8("runs/q/model_int8.cpk")
    >>> logits = int8(images)
    """
    return int8_from_payload(load_checkpoint(path), calibration)


def int8_module(loaded: LoadedModel) -> Optional[nn.Module]:
    """For a model loaded from a packed int8 file, its int8 model as an nn.Module (CPU); else None."""
    if not (loaded.checkpoint and loaded.checkpoint.get("ptq")):
        return None
    return CallableModule(int8_from_payload(loaded.checkpoint))
