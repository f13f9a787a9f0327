"""Fashion-MNIST (Xiao et al. 2017) from its idx files: Debian's `dataset-fashion-mnist` package or --data-dir.

60,000 training images (55,000 train and a fixed 5,000 validation split) and 10,000 test images,
28x28 grayscale, 10 classes. The idx files are read here (gzip or not) rather than through
torchvision's FashionMNIST, which wants the files uncompressed under FashionMNIST/raw/ and
cannot read the package's folder as installed. The images are held in memory as one tensor,
normalised once, so an epoch costs no per-image transform.
"""
from __future__ import annotations

import gzip
import os
import struct
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from compressor.compression.core.errors import DataNotFound, UserError

from .config import BaseDatasetConfig, DatasetConfig
from .registry import DATASETS, DataSplits, Shape

NAME = "fashion_mnist"
PACKAGE = "dataset-fashion-mnist"
PACKAGE_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
MEAN, STD = 0.2860, 0.3530  # of the 60,000 training images
VAL_SIZE = 5000
SPLIT_SEED = 0
CLASSES = 10


def _install_hint() -> str:
    return (f"install Debian's package ({PACKAGE}: apt-get install {PACKAGE}, files in {PACKAGE_DIR}), "
            f"or pass --data-dir with the idx files (or torchvision's FashionMNIST/raw/ under it), "
            f"or set download: true with a data_dir")


def _candidate_folders(config: DatasetConfig) -> List[str]:
    if config.data_dir:
        return [config.data_dir, os.path.join(config.data_dir, "FashionMNIST", "raw")]
    return [PACKAGE_DIR]


def _find(folders: List[str], stem: str) -> Optional[str]:
    for folder in folders:
        for name in (stem + ".gz", stem):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def _download(config: DatasetConfig) -> None:
    from torchvision.datasets import FashionMNIST

    try:
        FashionMNIST(config.data_dir, train=True, download=True)
    except (RuntimeError, OSError) as error:
        raise UserError(f"dataset '{NAME}': download into {config.data_dir} failed: {error}") from None


def _paths(config: DatasetConfig) -> dict:
    folders = _candidate_folders(config)
    if config.download and config.data_dir and _find(folders, FILES["train_images"]) is None:
        _download(config)
    found = {key: _find(folders, stem) for key, stem in FILES.items()}
    missing = [FILES[key] for key, path in found.items() if path is None]
    if missing:
        where = " or ".join(folders)
        refusal = DataNotFound if len(missing) == len(FILES) else UserError  # some but not all: a broken copy
        raise refusal(f"dataset '{NAME}': {', '.join(missing)} (.gz or not) not found in {where}; " + _install_hint())
    return found


def read_idx(path: str, magic: int) -> np.ndarray:
    """The array of an idx file (uint8 data), checked against its header; UserError names the file if broken."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            data = stream.read()
    except (OSError, EOFError) as error:  # a truncated or damaged gzip stream
        raise UserError(f"dataset '{NAME}': cannot read {path}: {error}; reinstall {PACKAGE} or replace the file") \
            from None
    dims = magic - 2048
    header = 4 + 4 * dims
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        raise UserError(f"dataset '{NAME}': {path} is not an idx file of {'images' if dims == 3 else 'labels'} "
                        f"(its header does not start with {magic}); reinstall {PACKAGE} or replace the file")
    shape = struct.unpack(f">{dims}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise UserError(f"dataset '{NAME}': {path} holds {len(data)} bytes where its header says {expected} "
                        f"(truncated or damaged); reinstall {PACKAGE} or replace the file")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _tensors(images_path: str, labels_path: str, shape: Shape) -> TensorDataset:
    images = torch.from_numpy(read_idx(images_path, IMAGES_MAGIC).copy())
    labels = torch.from_numpy(read_idx(labels_path, LABELS_MAGIC).astype(np.int64))
    if len(images) != len(labels):
        raise UserError(f"dataset '{NAME}': {images_path} has {len(images)} images but {labels_path} "
                        f"{len(labels)} labels")
    return TensorDataset(_for_model(images, shape), labels)


def _for_model(images: torch.Tensor, shape: Shape) -> torch.Tensor:
    """N x 28 x 28 uint8 -> N x C x H x W float, normalised (channels repeated, resized when the model asks)."""
    channels, height, width = shape
    tensor = (images.unsqueeze(1).float() / 255 - MEAN) / STD
    if (height, width) != tuple(tensor.shape[-2:]):
        tensor = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)
    return tensor.expand(-1, channels, -1, -1).contiguous() if channels != 1 else tensor


def _split(count: int) -> Tuple[List[int], List[int]]:
    """A fixed train/validation split of the training images, independent of the run's seed."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    return order[:count - VAL_SIZE], order[count - VAL_SIZE:]


@DATASETS.register(NAME, config=BaseDatasetConfig,
                   description="Fashion-MNIST 28x28 clothing images from Debian's dataset-fashion-mnist or "
                               "--data-dir (55000/5000/10000)")
def fashion_mnist(config: DatasetConfig, input_shape: Shape, num_classes: int) -> DataSplits:
    if num_classes != CLASSES:
        raise UserError(f"dataset '{NAME}' has {CLASSES} classes but the model predicts {num_classes}")
    paths = _paths(config)
    train_all = _tensors(paths["train_images"], paths["train_labels"], input_shape)
    test = _tensors(paths["test_images"], paths["test_labels"], input_shape)
    if len(train_all) <= VAL_SIZE:
        raise UserError(f"dataset '{NAME}': {paths['train_images']} has {len(train_all)} images; "
                        f"more than {VAL_SIZE} are needed")
    train_index, val_index = _split(len(train_all))
    images, labels = train_all.tensors
    return DataSplits(TensorDataset(images[train_index], labels[train_index]),
                      TensorDataset(images[val_index], labels[val_index]), test,
                      num_classes=CLASSES, input_shape=tuple(input_shape))
