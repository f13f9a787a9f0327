"""Fashion-MNIST from idx files: Debian's package folder, --data-dir, and broken or missing files."""
import gzip
import os
import struct

import numpy as np
import pytest
import torch

from compressor.compression.core.errors import DataNotFound, UserError
from compressor.datasets import DatasetConfig, build_datasets
from compressor.datasets import fashion_mnist as fm

TRAIN = fm.VAL_SIZE + 40  # the validation split is a fixed 5,000 images


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format from its definition: magic 0x0000080N (N dims), big-endian sizes, uint8 data."""
    header = struct.pack(">I", 2048 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_set(folder, compressed=True, train=TRAIN, test=30):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, 28, 28)),
              "t10k-labels-idx1-ubyte": np.arange(test) % 10}
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if compressed:
            with gzip.open(folder / (stem + ".gz"), "wb") as stream:
                stream.write(data)
        else:
            (folder / stem).write_bytes(data)
    return arrays


def build(data_dir, shape=(1, 28, 28)):
    return build_datasets(DatasetConfig(name="fashion_mnist", data_dir=str(data_dir)), shape, 10, seed=0)


def test_gzipped_idx_files_give_normalised_images_and_a_fixed_split(tmp_path):
    arrays = write_set(tmp_path)
    splits = build(tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, fm.VAL_SIZE, 30)
    image, label = splits.test[3]
    expected = (torch.tensor(arrays["t10k-images-idx3-ubyte"][3], dtype=torch.float32) / 255 - 0.2860) / 0.3530
    assert image.shape == (1, 28, 28) and torch.allclose(image[0], expected) and label == 3
    again = build(tmp_path)
    assert torch.equal(splits.val.tensors[1], again.val.tensors[1])  # the same validation images every run


def test_torchvisions_raw_folder_and_uncompressed_files_and_model_shapes(tmp_path):
    write_set(tmp_path / "FashionMNIST" / "raw", compressed=False)
    splits = build(tmp_path, shape=(3, 32, 32))
    assert splits.train[0][0].shape == (3, 32, 32)


def test_missing_files_name_the_package(tmp_path):
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist") as error:
        build(tmp_path)
    assert "train-images-idx3-ubyte" in str(error.value)


def test_no_files_are_data_not_found_and_some_missing_files_a_broken_copy(tmp_path):
    with pytest.raises(DataNotFound):
        build(tmp_path)
    write_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte .* not found") as error:
        build(tmp_path)
    assert not isinstance(error.value, DataNotFound)


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-100], "truncated or damaged"),
    (lambda data: b"\x00\x00\x09\x99" + data[4:], "is not an idx file of images"),
])
def test_truncated_or_foreign_files_are_named(tmp_path, damage, message):
    write_set(tmp_path, compressed=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UserError, match=message) as error:
        build(tmp_path)
    assert str(path) in str(error.value) and "dataset-fashion-mnist" in str(error.value)


def test_a_broken_gzip_stream_is_named(tmp_path):
    write_set(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(UserError, match="cannot read .*train-labels-idx1-ubyte.gz"):
        build(tmp_path)


@pytest.mark.skipif(not os.path.isdir(fm.PACKAGE_DIR), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_installed_package_is_the_whole_dataset():
    splits = build_datasets(DatasetConfig(name="fashion_mnist"), (1, 28, 28), 10, seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (55000, 5000, 10000)
    assert torch.bincount(splits.test.tensors[1]).tolist() == [1000] * 10
