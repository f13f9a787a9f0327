"""Packed model files (`.cpk`): every tensor of a state_dict in its smallest exact form.

The storage of Deep Compression (Han et al.): a sparse tensor keeps only its non-zero values and their
positions (a bitmap, or relative indices: variable-length integers, or k-bit gaps with filler
entries as in the paper, whichever is smallest); values drawn
from few distinct numbers are stored as k-bit codes into a codebook, one per tensor or one per output
channel (k-means-shared weights), or as k-bit integers times one step per channel (quantized and
binarized weights), whichever is smallest, and each tensor's bytes are entropy-coded by zstd. Unpacking gives every tensor back bit for bit: values are compared as bit patterns, so -0.0 and NaN
payloads survive too.

This module needs only torch, numpy and zstandard: copied beside a deployment it reads packed files
without the rest of compressor (`read_packed(path)` returns the state_dict and the metadata recorded).

Layout: MAGIC, the SHA-256 of everything after it (32 bytes), the manifest's length (4 bytes,
little-endian), the zstd-compressed JSON manifest, then one zstd frame per tensor at the offsets the
manifest lists.
"""
from __future__ import annotations

import hashlib
import json
import math
import struct
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import zstandard

MAGIC = b"CPKD\x00\x01"
FORMAT = "compressor-packed"
VERSION = 2  # 2: k-bit gaps ("fixed_gaps")
READS = (1, 2)
ZSTD_LEVEL = 9  # as small as level 19 on weights (within 0.1%), ~50x faster
_SAMPLE = 1 << 14  # values looked at to tell continuous values (no codebook can help) from few distinct ones
_HASH = 32
_BITS_VIEW = {1: np.uint8, 2: np.int16, 4: np.int32, 8: np.int64}
_FLOATS = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}
_CHUNK = 1 << 18  # codes bit-packed per slice: a multiple of 8, so every slice ends on a byte


class PackedFileError(ValueError):
    """A file that is not a packed model, or one that was truncated or altered."""


@dataclass(frozen=True)
class PackedTensor:
    """How one tensor was stored: its encodings and its bytes before and after entropy coding."""

    name: str
    numel: int
    nnz: int
    positions: str  # dense | bitmap | gaps | fixed_gaps
    values: str  # raw | codebook | channel_codebooks | grid
    bits: int  # bits per stored value (codes), or the dtype's width when raw
    index_bytes: int
    value_bytes: int
    packed_bytes: int

    @property
    def bits_per_element(self) -> float:
        return 8.0 * self.packed_bytes / max(self.numel, 1)


# --------------------------------------------------------------------------------------------- writing

def pack_bytes(state: Dict[str, torch.Tensor], meta: Optional[Dict[str, Any]] = None,
               grid_steps: Optional[Dict[str, torch.Tensor]] = None) -> Tuple[bytes, List[PackedTensor]]:
    """The packed file of `state` (tensors) and `meta` (plain data; tensors in it are packed too).

    `grid_steps` gives, for a key of `state`, each output channel's step of its grid (the scales of
    int8 weights stored dequantized): used instead of the steps found from the values, as long as they
    give back every value's bits."""
    tensors: "OrderedDict[str, torch.Tensor]" = OrderedDict((f"state/{k}", v) for k, v in state.items())
    plain_meta = _meta_out(meta or {}, "meta", tensors)
    frames, records, report = [], [], []
    offset = 0
    for key, tensor in tensors.items():
        frame, record, stored = _encode(key, tensor, (grid_steps or {}).get(key[len("state/"):]))
        records.append({**record, "offset": offset, "length": len(frame)})
        report.append(stored)
        frames.append(frame)
        offset += len(frame)
    manifest = {"format": FORMAT, "version": VERSION, "meta": plain_meta, "tensors": records}
    head = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(json.dumps(manifest).encode())
    body = struct.pack("<I", len(head)) + head + b"".join(frames)
    return MAGIC + hashlib.sha256(body).digest() + body, [r for r in report if r.name.startswith("state/")]


def _encode(key: str, tensor: torch.Tensor, steps: Optional[torch.Tensor] = None
            ) -> Tuple[bytes, Dict[str, Any], PackedTensor]:
    t = tensor.detach().cpu().contiguous()
    record: Dict[str, Any] = {"key": key, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)}
    raw = _as_numpy_bits(t)
    if raw is None or t.numel() == 0:
        data = t.numpy().tobytes() if raw is None else b""
        parts, choice = [data], {"positions": "dense", "values": "raw", "bits": 8 * t.element_size()}
        sizes = (0, len(data))
    else:
        given = None if steps is None else steps.detach().cpu().to(t.dtype).numpy()
        parts, choice, sizes = _smallest_encoding(raw, t.shape, 8 * t.element_size(), _FLOATS.get(t.dtype), given)
    record.update(choice, sections=[len(p) for p in parts])
    frame = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(b"".join(parts))
    nnz = int(np.count_nonzero(raw)) if raw is not None else t.numel()
    stored = PackedTensor(key, t.numel(), nnz, choice["positions"], choice["values"], choice["bits"],
                          sizes[0], sizes[1], len(frame))
    return frame, record, stored


def _as_numpy_bits(t: torch.Tensor) -> Optional[np.ndarray]:
    """The tensor's elements as integers with the same bits (floats compared bit for bit); None: stored raw."""
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        return None
    view = _BITS_VIEW[t.element_size()]
    return t.reshape(-1).view(torch.uint8).numpy().view(view)


def _smallest_encoding(bits: np.ndarray, shape, width: int, floating=None,
                       steps: Optional[np.ndarray] = None) -> Tuple[List[bytes], Dict[str, Any], Tuple[int, int]]:
    """Every combination of position and value encoding, sized; the smallest one's sections."""
    channels = shape[0] if len(shape) >= 2 else 1
    nonzero = bits != 0
    positions = {}
    if not nonzero.all():
        kept = np.flatnonzero(nonzero)
        positions["bitmap"] = (np.packbits(nonzero, bitorder="little").tobytes(), kept)
        gaps = np.diff(kept, prepend=-1) - 1
        positions["gaps"] = (_varints(gaps), kept)
        positions["fixed_gaps"] = (_fixed_gaps(gaps), kept)
    if _kept_fraction(nonzero) >= 0.5:  # below, storing the zeros as codes costs more than a bitmap
        positions["dense"] = (b"", np.arange(bits.size))
    best = None
    for position_kind, (index_data, where) in positions.items():
        values = bits[where]
        channel = where // (bits.size // channels) if channels > 1 else None
        for value_kind, value_parts, code_bits in _value_encodings(values, channel, channels, width, floating,
                                                                   steps):
            size = len(index_data) + sum(len(p) for p in value_parts)
            if best is None or size < best[0]:
                best = (size, [index_data, *value_parts], {"positions": position_kind, "values": value_kind,
                                                           "bits": code_bits, "count": int(values.size)},
                        (len(index_data), size - len(index_data)))
    return best[1], best[2], best[3]


def _kept_fraction(nonzero: np.ndarray) -> float:
    return float(np.count_nonzero(nonzero)) / max(nonzero.size, 1)


def _value_encodings(values: np.ndarray, channel: Optional[np.ndarray], channels: int, width: int, floating,
                     steps: Optional[np.ndarray] = None):
    yield "raw", [values.tobytes()], width
    if continuous_values(values) and steps is None:
        return
    grid = _grid(values, channel, channels, floating, steps) if floating is not None and values.size else None
    if grid is not None:
        yield "grid", grid[0], grid[1]
    book, codes = np.unique(values, return_inverse=True)
    if book.size < values.size:
        bits = _code_bits(book.size)
        yield "codebook", [book.tobytes(), _pack_codes(codes, bits)], bits
    if channel is not None and values.size:
        books, counts, local = _channel_codebooks(values, channel, channels)
        bits = _code_bits(int(counts.max()))
        if bits < width:
            yield "channel_codebooks", [counts.astype(np.int64).tobytes(), books.tobytes(),
                                        _pack_codes(local, bits)], bits


def _grid(values: np.ndarray, channel: Optional[np.ndarray], channels: int, floating,
          given: Optional[np.ndarray] = None):
    """Each channel's values as integers times one step (its smallest non-zero magnitude), where that gives
    back every value's bits: quantized weights (QAT, binarized) stored as k-bit integers and a scale."""
    real = values.view(floating)
    if not np.isfinite(real).all():
        return None
    channel = np.zeros(values.size, dtype=np.int64) if channel is None else channel
    steps = given if given is not None and given.size == channels and (given > 0).all() else \
        _grid_steps(np.abs(real.astype(np.float64)), channel, channels).astype(floating)
    integers = np.rint(real.astype(np.float64) / steps[channel].astype(np.float64))
    if np.abs(integers).max(initial=0) >= 1 << 15:
        return None
    integers = integers.astype(np.int64)
    if not np.array_equal((integers.astype(floating) * steps[channel]).view(values.dtype), values):
        return None
    lowest = np.full(channels, 1 << 15, dtype=np.int64)
    np.minimum.at(lowest, channel, integers)
    lowest = np.minimum(lowest, 0)
    codes = integers - lowest[channel]
    bits = _code_bits(int(codes.max()) + 1)
    return [steps.tobytes(), lowest.astype(np.int32).tobytes(), _pack_codes(codes, bits)], bits


def _grid_steps(magnitude: np.ndarray, channel: np.ndarray, channels: int) -> np.ndarray:
    """Each channel's step: its smallest non-zero magnitude m, divided by m over the smallest gap between
    its distinct magnitudes, rounded (a channel whose values skip the first level still finds its step)."""
    smallest, gap = np.full(channels, np.inf), np.full(channels, np.inf)
    np.minimum.at(smallest, channel, np.where(magnitude > 0, magnitude, np.inf))
    order = np.lexsort((magnitude, channel))
    ordered, owner = magnitude[order], channel[order]
    gaps = np.diff(ordered)
    inside = (owner[1:] == owner[:-1]) & (gaps > 0) & (ordered[:-1] > 0)
    np.minimum.at(gap, owner[1:][inside], gaps[inside])
    with np.errstate(invalid="ignore"):  # channels with no non-zero value: inf / inf, replaced below
        levels = np.where(np.isfinite(gap), np.maximum(1.0, np.rint(smallest / gap)), 1.0)
        return np.where(np.isfinite(smallest), smallest / levels, 1.0)


def continuous_values(values: np.ndarray) -> bool:
    """Whether a seeded sample of the non-zero values is (nearly) all distinct: then no codebook pays off
    (a shortcut for trained FP32 weights, also taken by stored_bits.value_bits)."""
    if values.size <= _SAMPLE:
        return False
    sample = values[np.random.default_rng(0).choice(values.size, _SAMPLE, replace=False)]
    sample = sample[sample != 0]
    return sample.size >= 1024 and np.unique(sample).size > 0.9 * sample.size


def _channel_codebooks(values: np.ndarray, channel: np.ndarray, channels: int):
    """Each channel's sorted distinct values (concatenated), their counts, and every value's code in its channel."""
    order = np.lexsort((values, channel))
    sorted_values, sorted_channels = values[order], channel[order]
    new = np.ones(values.size, dtype=bool)
    new[1:] = (sorted_values[1:] != sorted_values[:-1]) | (sorted_channels[1:] != sorted_channels[:-1])
    group = np.cumsum(new) - 1
    counts = np.bincount(sorted_channels[new], minlength=channels)
    first_group = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local = np.empty(values.size, dtype=np.int64)
    local[order] = group - first_group[sorted_channels]
    return sorted_values[new], counts, local


def _code_bits(distinct: int) -> int:
    return max(0, math.ceil(math.log2(distinct))) if distinct > 1 else 0


def _pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """Unsigned codes, `bits` each, little-endian bit order, in slices to bound memory."""
    if bits == 0:
        return b""
    shifts = np.arange(bits, dtype=np.uint64)
    out = []
    for start in range(0, codes.size, _CHUNK):
        chunk = codes[start:start + _CHUNK].astype(np.uint64)
        planes = ((chunk[:, None] >> shifts) & 1).astype(np.uint8)
        out.append(np.packbits(planes.reshape(-1), bitorder="little").tobytes())
    return b"".join(out)


def _varints(numbers: np.ndarray) -> bytes:
    """Non-negative integers as LEB128: 7 bits per byte, the high bit set on every byte but a number's last."""
    numbers = numbers.astype(np.uint64)
    lengths = np.maximum(1, (np.floor(np.log2(np.maximum(numbers, 1))).astype(np.int64) // 7) + 1)
    lengths[numbers == 0] = 1
    starts = np.cumsum(lengths) - lengths
    out = np.zeros(int(lengths.sum()), dtype=np.uint8)
    for byte in range(int(lengths.max(initial=0))):
        has = lengths > byte
        chunk = (numbers[has] >> np.uint64(7 * byte)) & np.uint64(0x7F)
        more = (lengths[has] > byte + 1).astype(np.uint8) << 7
        out[starts[has] + byte] = chunk.astype(np.uint8) | more
    return out.tobytes()


def _fixed_gaps(gaps: np.ndarray) -> bytes:
    """Gaps as k-bit symbols (k in 1..8, the smallest result; its value in the first byte), Han et al.'s
    relative indices: a gap of 2^k - 1 or more is preceded by filler symbols 2^k - 1, each meaning
    "2^k - 1 positions with no value". Zstd cannot shorten bytes that hold several varints' worth of
    information as well: at 95% sparsity these are about 5 bits per value instead of 8."""
    best = None
    for bits in range(1, 9):
        filler = (1 << bits) - 1
        fills = gaps // filler
        symbols = np.full(int(fills.sum()) + gaps.size, filler, dtype=np.int64)
        ends = np.cumsum(fills + 1) - 1  # each gap's own symbol comes after its fillers
        symbols[ends] = gaps - fills * filler
        data = bytes([bits]) + _pack_codes(symbols, bits)
        if best is None or len(data) < len(best):
            best = data
    return best


def _meta_out(value: Any, path: str, tensors: "OrderedDict[str, torch.Tensor]") -> Any:
    """Plain JSON data; each tensor moved to `tensors` and replaced by a reference to it."""
    if isinstance(value, torch.Tensor):
        tensors[path] = value
        return {"__tensor__": path}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise PackedFileError(f"cannot pack {path}: a mapping with keys that are not text")
        return {key: _meta_out(item, f"{path}/{key}", tensors) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_meta_out(item, f"{path}/{i}", tensors) for i, item in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise PackedFileError(f"cannot pack {path}: a {type(value).__name__} is neither a tensor nor plain data")


def write_packed(path: Union[str, Path], state: Dict[str, torch.Tensor],
                 meta: Optional[Dict[str, Any]] = None) -> List[PackedTensor]:
    """Write `state` and `meta` packed to `path` (not atomically: compressor's own writer does that)."""
    data, report = pack_bytes(state, meta)
    Path(path).write_bytes(data)
    return report


# --------------------------------------------------------------------------------------------- reading

def is_packed(path: Union[str, Path]) -> bool:
    with open(path, "rb") as file:
        return file.read(len(MAGIC)) == MAGIC


def read_packed(path: Union[str, Path]) -> Tuple["OrderedDict[str, torch.Tensor]", Dict[str, Any]]:
    """The state_dict and the metadata of a packed file; PackedFileError if it is not one, truncated or altered.

    Needs torch, numpy and zstandard only. The metadata of a compressor model names its architecture
    (`arch`), `input_shape`, `num_classes` and how it was changed (`thinning`, `qat`): load the state_dict
    into the same architecture, thinned alike.

    >>> state_dict, record = read_packed("digits.cpk")
    >>> model.load_state_dict(state_dict)
    """
    return unpack_bytes(Path(path).read_bytes(), str(path))


def unpack_bytes(data: bytes, source: str = "packed file"):
    """The state_dict and the metadata of a packed file's bytes."""
    state, meta, _ = unpack_with_records(data, source)
    return state, meta


def unpack_with_records(data: bytes, source: str = "packed file"):
    """The state_dict, the metadata, and each model tensor's record (encodings, sections, packed bytes)."""
    manifest, body = _checked_manifest(data, source)
    tensors = OrderedDict()
    for record in manifest["tensors"]:
        frame = body[record["offset"]:record["offset"] + record["length"]]
        tensors[record["key"]] = _decode(record, zstandard.ZstdDecompressor().decompress(frame), source)
    state = OrderedDict((key[len("state/"):], value) for key, value in tensors.items() if key.startswith("state/"))
    records = [record for record in manifest["tensors"] if record["key"].startswith("state/")]
    return state, _meta_in(manifest["meta"], tensors), records


def _checked_manifest(data: bytes, source: str) -> Tuple[Dict[str, Any], bytes]:
    if not data.startswith(MAGIC):
        raise PackedFileError(f"{source} is not a packed model file (no {FORMAT} marker)")
    digest, body = data[len(MAGIC):len(MAGIC) + _HASH], data[len(MAGIC) + _HASH:]
    if len(digest) < _HASH or hashlib.sha256(body).digest() != digest:
        raise PackedFileError(f"{source} is truncated or altered: its checksum does not match its content")
    (length,) = struct.unpack("<I", body[:4])
    manifest = json.loads(zstandard.ZstdDecompressor().decompress(body[4:4 + length]))
    if manifest.get("format") != FORMAT or manifest.get("version") not in READS:
        raise PackedFileError(f"{source}: packed format version {manifest.get('version')!r} "
                              f"is not one this release reads ({', '.join(map(str, READS))})")
    return manifest, body[4 + length:]


def _decode(record: Dict[str, Any], data: bytes, source: str) -> torch.Tensor:
    dtype = getattr(torch, record["dtype"])
    shape, sections = record["shape"], _split(data, record["sections"])
    numel = math.prod(shape)
    if len(sections) == 1 and record["values"] == "raw" and record["positions"] == "dense":
        return torch.frombuffer(bytearray(sections[0]), dtype=dtype).reshape(shape).clone() if numel else \
            torch.empty(shape, dtype=dtype)
    view = _BITS_VIEW[torch.empty((), dtype=dtype).element_size()]
    index_data, value_sections = sections[0], sections[1:]
    out = np.zeros(numel, dtype=view)
    where = _positions(record["positions"], index_data, numel, record.get("count", numel))
    channels = shape[0] if len(shape) >= 2 else 1
    out[where] = _values(record, value_sections, where, numel // max(channels, 1), view)
    return torch.from_numpy(out.copy()).view(dtype).reshape(shape)


def _split(data: bytes, lengths: List[int]) -> List[bytes]:
    out, start = [], 0
    for length in lengths:
        out.append(data[start:start + length])
        start += length
    return out


def _positions(kind: str, data: bytes, numel: int, count: int) -> np.ndarray:
    if kind == "dense":
        return np.arange(numel)
    if kind == "bitmap":
        return np.flatnonzero(np.unpackbits(np.frombuffer(data, np.uint8), count=numel, bitorder="little"))
    if kind == "fixed_gaps":
        return _read_fixed_gaps(data, count)
    gaps = _read_varints(data)
    return np.cumsum(gaps + 1) - 1


def _read_fixed_gaps(data: bytes, count: int) -> np.ndarray:
    """The positions of the first `count` values (the last byte's padding reads as more)."""
    bits = data[0]
    symbols = _unpack_codes(data[1:], (len(data) - 1) * 8 // bits, bits)
    value = symbols != (1 << bits) - 1
    return (np.cumsum(symbols + value) - 1)[value][:count]


def _values(record: Dict[str, Any], sections: List[bytes], where: np.ndarray, per_channel: int, view) -> np.ndarray:
    count, bits = record["count"], record["bits"]
    if record["values"] == "raw":
        return np.frombuffer(sections[0], dtype=view)
    if record["values"] == "codebook":
        return np.frombuffer(sections[0], dtype=view)[_unpack_codes(sections[1], count, bits)]
    if record["values"] == "grid":
        floating = _FLOATS[getattr(torch, record["dtype"])]
        steps, lowest = np.frombuffer(sections[0], dtype=floating), np.frombuffer(sections[1], dtype=np.int32)
        channel = where // per_channel
        integers = _unpack_codes(sections[2], count, bits) + lowest[channel]
        return (integers.astype(floating) * steps[channel]).view(view)
    counts = np.frombuffer(sections[0], dtype=np.int64)
    books = np.frombuffer(sections[1], dtype=view)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return books[first[where // per_channel] + _unpack_codes(sections[2], count, bits)]


def _unpack_codes(data: bytes, count: int, bits: int) -> np.ndarray:
    if bits == 0:
        return np.zeros(count, dtype=np.int64)
    raw, shifts = np.frombuffer(data, np.uint8), np.arange(bits, dtype=np.int64)
    out = np.empty(count, dtype=np.int64)
    for start in range(0, count, _CHUNK):
        n = min(_CHUNK, count - start)
        chunk = raw[start * bits // 8:(start + n) * bits // 8 + 1]
        planes = np.unpackbits(chunk, count=n * bits, bitorder="little").reshape(n, bits).astype(np.int64)
        out[start:start + n] = (planes << shifts).sum(axis=1)
    return out


def _read_varints(data: bytes) -> np.ndarray:
    raw = np.frombuffer(data, np.uint8)
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (raw & 0x80) == 0
    starts = np.concatenate([[0], np.flatnonzero(last)[:-1] + 1])
    number = np.cumsum(np.concatenate([[0], last[:-1]]))
    shift = (np.arange(raw.size) - starts[number]) * 7
    parts = (raw & 0x7F).astype(np.uint64) << shift.astype(np.uint64)
    return np.add.reduceat(parts, starts).astype(np.int64)


def _meta_in(value: Any, tensors: Dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            return tensors[value["__tensor__"]]
        return {key: _meta_in(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [_meta_in(item, tensors) for item in value]
    return value


def as_dicts(report: List[PackedTensor]) -> List[Dict[str, Any]]:
    return [{**asdict(item), "name": item.name[len("state/"):]} for item in report]
