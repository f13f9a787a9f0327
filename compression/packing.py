"""A model as a packed file (`export --format packed`): its weights in their smallest exact form, with
the record that rebuilds it (architecture, thinning plan, QAT quantizers), checked by loading it back.

Weights under a QAT weight quantizer are packed as the quantized values the model computes with, and
recorded as such (`quantized_weights`): the model rebuilt from the file uses them as they are, so it
computes exactly what the QAT model does. Other weights are packed as they are. A packed file is for deployment and
evaluation: it keeps no optimizer or policy state, so training starts from it (`--checkpoint`) but
does not resume from it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import torch
from torch import nn

from .core.checkpoint import FORMAT, atomic_write, load_checkpoint, saved_bytes
from .core.checkpoint_migrations import FORMAT_VERSION
from .core.errors import UserError, first_line
from .core.packed import PackedFileError, as_dicts, pack_bytes, read_packed
from .models import build_model
from .model_source import LoadedModel, load_model
from .quantization.qat.layers import is_qat_key, quantized_modules
from .restore import model_from_checkpoint

# What a deployed model needs from its checkpoint; training state (optimizer, policies, masks, metrics) is left out.
RECORD_KEYS = ("arch", "input_shape", "num_classes", "dataset", "dataset_options", "thinning", "factorization",
               "folded_batchnorm", "qat", "quantized_weights", "epoch", "seed", "best_top1", "best_epoch", "precision")


@dataclass
class PackResult:
    out: str
    file_bytes: int
    fp32_bytes: int  # torch.save of this model's FP32 state_dict
    dense_fp32_bytes: int  # torch.save of the architecture's state_dict before any thinning
    max_abs_diff: float
    quantized_layers: List[str] = field(default_factory=list)  # packed as their QAT-quantized values
    tensors: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.dense_fp32_bytes / self.file_bytes

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "ratio_vs_dense_fp32": self.ratio,
                "ratio_vs_fp32": self.fp32_bytes / self.file_bytes}


def export_packed(loaded: LoadedModel, out: Union[str, Path], seed: int = 0) -> PackResult:
    """Write `loaded`'s model packed to `out` (atomically), load it back and compare weights and outputs."""
    model = loaded.model.eval()
    state, quantized = deployment_state(model)
    record = model_record(loaded)
    record["quantized_weights"] = sorted(set(record.get("quantized_weights", [])) | set(quantized))
    data, report = pack_bytes(state, record)
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(data))
    unpacked, _ = model_from_checkpoint(load_checkpoint(out))
    check_same_weights(unpacked.state_dict(), state, out)
    batch = torch.randn(2, *loaded.info.input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        diff = float((unpacked.eval()(batch) - model(batch)).abs().max())
    return PackResult(str(out), len(data), fp32_bytes(model),
                      fp32_bytes(build_model(loaded.info.name, num_classes=loaded.info.num_classes,
                                             input_shape=loaded.info.input_shape)),
                      diff, quantized, as_dicts(report))


def model_record(loaded: LoadedModel) -> Dict[str, Any]:
    """The checkpoint record a packed file keeps (a built model gets its name, shape and classes)."""
    payload = loaded.checkpoint or {"arch": loaded.info.name, "input_shape": list(loaded.info.input_shape),
                                    "num_classes": loaded.info.num_classes, "dataset": loaded.info.default_dataset}
    record = {key: payload[key] for key in RECORD_KEYS if payload.get(key) is not None}
    return {"qat": [], **record, "format": FORMAT, "format_version": FORMAT_VERSION}


def deployment_state(model: nn.Module):
    """The state_dict to pack, and the layers whose weights it holds as their QAT-quantized values."""
    state = plain_state(model)
    quantized = []
    for name, module, layer in quantized_modules(model):
        if layer.weight_fn is not None and layer.switch.enabled:
            with torch.no_grad():
                state[f"{name}.weight"] = _positive_zeros(layer.weight(module).detach())
            quantized.append(name)
    return state, quantized


def plain_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {key: _positive_zeros(value.detach()) for key, value in model.state_dict().items() if not is_qat_key(key)}


def _positive_zeros(tensor: torch.Tensor) -> torch.Tensor:
    """A copy with -0.0 made +0.0 (x + 0.0 is x for every other value): a weight rounded or masked to a negative
    zero computes as zero but has other bits, and a packed file, exact to the bit, would store it as a value."""
    return tensor + 0.0 if tensor.is_floating_point() else tensor.clone()


def fp32_bytes(model: nn.Module) -> int:
    """The size of the model's FP32 weights file (its state_dict without QAT quantizers' parameters)."""
    state = model.state_dict()  # kept as it is, with its version metadata, as torch.save(state_dict()) writes it
    for key in [key for key in state if is_qat_key(key)]:
        del state[key]
    return saved_bytes(state)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(
        a.reshape(-1).contiguous().view(torch.uint8), b.reshape(-1).contiguous().view(torch.uint8))


def check_same_weights(actual: Dict[str, torch.Tensor], expected: Dict[str, torch.Tensor], out) -> None:
    different = [key for key, value in expected.items() if key not in actual or not _same_bits(actual[key], value)]
    if different:  # a defect of the packer, not of the user's input
        raise RuntimeError(f"{out}: unpacking did not give back the same bits for {', '.join(different)}")


@dataclass(frozen=True)
class PackedLayer:
    bytes: int
    bits_per_weight: float  # the layer's packed bytes (weight, bias and any other tensor of it) per weight
    share: float  # of the file


def packed_layers(payload: Dict[str, Any], weights: Dict[str, int]) -> Dict[str, PackedLayer]:
    """For a payload read from a packed file: each module's packed bytes, bits per weight and share of the file.

    `weights` gives the weight count of the modules the caller lists; every other module (BatchNorm, ...)
    is reported with its tensors' element count.
    """
    info = payload.get("packed") or {}
    total, counts, sizes = info.get("file_bytes", 0), {}, {}
    for record in info.get("tensors", []):
        module = record["key"][len("state/"):].rsplit(".", 1)[0]
        sizes[module] = sizes.get(module, 0) + record["length"]
        counts[module] = counts.get(module, 0) + math.prod(record["shape"])
    return {module: PackedLayer(size, 8.0 * size / max(weights.get(module, counts[module]), 1), size / total)
            for module, size in sizes.items()}


def pack(loaded_or_path: Union[LoadedModel, str, Path], out: Union[str, Path]) -> PackResult:
    """Pack a compressor checkpoint (or a model loaded from one) into `out`, checked by loading it back.

    >>> result = pack("runs/digits_deep_compression-x/best.pt", "digits.cpk")
    >>> result.ratio  # the dense architecture's FP32 weights file / the packed file
    """
    loaded = loaded_or_path if isinstance(loaded_or_path, LoadedModel) else load_model(checkpoint=str(loaded_or_path))
    return export_packed(loaded, out)


def load_packed_model(path: Union[str, Path]) -> nn.Module:
    """The model of a packed file (or a checkpoint), rebuilt as it was packed: thinned, factorized, with its
    QAT quantizers; in eval mode. Without compressor installed, `read_packed` gives its state_dict.

    >>> model = load_packed_model("digits.cpk")
    >>> logits = model(images)
    """
    return model_from_checkpoint(load_checkpoint(path))[0].eval()


def read_packed_file(path: Union[str, Path]) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """The state_dict and the metadata of a packed file (`compressor.read_packed`); a file that is missing, not
    a packed model, truncated or altered raises UserError. (core/packed.py's `read_packed`, which needs only
    torch, numpy and zstandard where compressor is not installed, raises its own PackedFileError.)

    >>> state_dict, record = read_packed("digits.cpk")
    >>> model.load_state_dict(state_dict)
    """
    try:
        return read_packed(path)
    except (PackedFileError, OSError) as err:
        raise UserError(f"{path}: {first_line(err)}") from None
