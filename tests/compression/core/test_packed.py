"""The packed file codec: bit-identical round trips, the smallest encoding per tensor, damage caught."""
import pytest
import torch

from compressor.compression.core.packed import PackedFileError, pack_bytes, unpack_bytes


def _bits(tensor):
    return tensor.reshape(-1).contiguous().view(torch.uint8)


def _sparse(shape, density, seed=0):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=generator)
    weight[torch.rand(shape, generator=generator) >= density] = 0.0
    return weight


def _shared(shape, clusters, density, seed=0):
    generator = torch.Generator().manual_seed(seed)
    book = torch.randn(clusters, generator=generator)
    weight = book[torch.randint(0, clusters, shape, generator=generator)]
    weight[torch.rand(shape, generator=generator) >= density] = 0.0
    return weight


def _binary(shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    scale = torch.rand(shape[0], *[1] * (len(shape) - 1), generator=generator) + 0.1
    return torch.randn(shape, generator=generator).sign() * scale


def _int8_grid(shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    step = torch.rand(shape[0], *[1] * (len(shape) - 1), generator=generator) * 0.01 + 0.001
    integers = torch.randint(-127, 128, shape, generator=generator).float()
    return integers * step  # as a per-channel int8 fake quantizer computes it


STATE = {
    "sparse": _sparse((64, 32, 3, 3), 0.05),
    "shared": _shared((128, 64), 16, 0.1),
    "binary": _binary((32, 16, 3, 3)),
    "int8_grid": _int8_grid((64, 32, 3, 3)),
    "dense": torch.randn(10),
    "count": torch.tensor(5),
    "signed_zero_nan": torch.tensor([-0.0, 0.0, float("nan"), 1.0]),
    "empty": torch.zeros(0, 3),
    "half": torch.randn(5, 4).half(),
    "bfloat": torch.randn(6).bfloat16(),
    "double": torch.randn(3, 3).double(),
    "flags": torch.tensor([True, False]),
    "int8": torch.randint(-128, 127, (40,), dtype=torch.int8),
    "zeros": torch.zeros(4, 4),
}


def test_every_tensor_comes_back_with_the_same_bits_dtype_and_shape():
    data, _ = pack_bytes(STATE)
    state, meta = unpack_bytes(data)
    assert list(state) == list(STATE) and meta == {}
    for key, tensor in STATE.items():
        assert state[key].dtype == tensor.dtype and state[key].shape == tensor.shape, key
        assert torch.equal(_bits(state[key]), _bits(tensor)), key


def test_metadata_round_trips_with_its_tensors():
    meta = {"arch": "digits_cnn", "input_shape": (1, 8, 8), "qat": [{"state": {"tensors": {"s": torch.ones(3)}}}]}
    _, back = unpack_bytes(pack_bytes({}, meta)[0])
    assert back["arch"] == "digits_cnn" and back["input_shape"] == [1, 8, 8]
    assert torch.equal(back["qat"][0]["state"]["tensors"]["s"], torch.ones(3))


def test_metadata_that_is_not_plain_data_is_refused():
    with pytest.raises(PackedFileError, match="meta/when"):
        pack_bytes({}, {"when": object()})


def test_each_tensor_gets_the_encoding_its_content_calls_for():
    _, report = pack_bytes(STATE)
    chosen = {item.name.split("/", 1)[1]: item for item in report}
    assert chosen["sparse"].positions == "fixed_gaps" and chosen["sparse"].values == "raw"
    assert chosen["shared"].values == "codebook" and chosen["shared"].bits == 4
    assert chosen["binary"].values == "channel_codebooks" and chosen["binary"].bits == 1
    assert chosen["int8_grid"].values == "grid" and chosen["int8_grid"].bits == 8
    assert chosen["dense"].positions == "dense" and chosen["dense"].values == "raw"
    half_dense = _sparse((1000,), 0.5)
    (item,) = pack_bytes({"w": half_dense})[1]
    assert item.positions == "bitmap"


def test_sparse_shared_weights_pack_far_below_their_fp32_size():
    weight = _shared((256, 256), 16, 0.025)  # 97.5% zeros, 16 shared values: Deep Compression's regime
    data, (item,) = pack_bytes({"w": weight})
    assert item.bits == 4 and item.positions == "fixed_gaps"
    assert weight.numel() * 4 / len(data) > 90  # ~11 bits per non-zero against 32 bits per element


@pytest.mark.parametrize("density", [0.0005, 0.01, 0.05, 0.2])
@pytest.mark.parametrize("size", [1, 9, 1000, 40000])
def test_relative_indices_with_fillers_come_back_exactly(density, size):
    """Gaps longer than a k-bit symbol holds take filler symbols; the last byte's padding is not a value."""
    weight = _shared((size,), 16, density, seed=size)
    weight[-1] = 1.0  # a value at the very end, after a long gap where the density is low
    data, (item,) = pack_bytes({"w": weight})
    assert torch.equal(_bits(unpack_bytes(data)[0]["w"]), _bits(weight))


def test_k_bit_gaps_beat_variable_length_ones_where_most_weights_are_zero():
    from compressor.compression.core.packed import _fixed_gaps, _varints
    import numpy as np

    kept = np.flatnonzero(_shared((256, 256), 16, 0.05).reshape(-1).numpy())
    gaps = np.diff(kept, prepend=-1) - 1
    assert len(_fixed_gaps(gaps)) < 0.8 * len(_varints(gaps))  # ~6 bits per gap against 8


def test_a_file_of_the_first_format_version_is_still_read():
    import json, struct, hashlib
    import zstandard
    from compressor.compression.core import packed

    data = pack_bytes({"w": _sparse((300,), 0.5)})[0]
    body = data[len(packed.MAGIC) + 32:]
    (length,) = struct.unpack("<I", body[:4])
    manifest = json.loads(zstandard.ZstdDecompressor().decompress(body[4:4 + length]))
    assert manifest["tensors"][0]["positions"] != "fixed_gaps"
    manifest["version"] = 1
    head = zstandard.ZstdCompressor().compress(json.dumps(manifest).encode())
    body = struct.pack("<I", len(head)) + head + body[4 + length:]
    old = packed.MAGIC + hashlib.sha256(body).digest() + body
    assert torch.equal(unpack_bytes(old)[0]["w"], _sparse((300,), 0.5))


def test_binary_weights_take_about_one_bit_each():
    weight = _binary((64, 64, 3, 3))
    _, (item,) = pack_bytes({"w": weight})
    assert item.bits_per_element < 1.2


@pytest.mark.parametrize("damage", ["truncate", "flip", "header"])
def test_a_truncated_or_altered_file_is_refused_by_its_checksum(damage):
    data = bytearray(pack_bytes(STATE)[0])
    if damage == "truncate":
        data = data[:-10]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data[8] ^= 0x01  # inside the stored checksum
    with pytest.raises(PackedFileError, match="truncated or altered"):
        unpack_bytes(bytes(data), "m.cpk")


def test_a_file_of_another_kind_is_refused():
    with pytest.raises(PackedFileError, match="not a packed model file"):
        unpack_bytes(b"PK\x03\x04 not packed", "m.cpk")
