"""scikit-learn's bundled 8x8 handwritten digits: no download, fixed split."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Tuple

import numpy as np
import torch
from torch.utils.data import TensorDataset

from compressor.compression.core.errors import UserError

from .config import BaseDatasetConfig, DatasetConfig
from .registry import DATASETS, DataSplits, Shape

SHAPE = (1, 8, 8)
TEST_SIZE = 360
VAL_SIZE = 360
SPLIT_SEED = 0
CLASSES = 10


def load_bundled_digits() -> Tuple[np.ndarray, np.ndarray]:
    """(images 1797x8x8 in 0..16, labels), as sklearn.datasets.load_digits gives them, read from the
    file scikit-learn ships without importing it: importing sklearn.datasets takes about 2 s."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits  # its files moved: let it find them

        data = load_digits()
        return data.images, data.target.astype(np.int64)
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def _split_indices(count: int):
    order = np.random.RandomState(SPLIT_SEED).permutation(count)
    test = order[:TEST_SIZE]
    val = order[TEST_SIZE:TEST_SIZE + VAL_SIZE]
    train = order[TEST_SIZE + VAL_SIZE:]
    return train, val, test


@DATASETS.register("digits", config=BaseDatasetConfig,
                   description="scikit-learn's 8x8 digits, 1797 images, 10 classes (bundled)")
def digits(config: DatasetConfig, input_shape: Shape, num_classes: int) -> DataSplits:
    if tuple(input_shape) != SHAPE:
        raise UserError(f"dataset 'digits' has 1x8x8 images; the model takes "
                        f"{'x'.join(map(str, input_shape))} (pick a model such as digits_cnn)")
    if num_classes < CLASSES:
        raise UserError(f"dataset 'digits' has {CLASSES} classes but the model predicts {num_classes} "
                        f"(set model.num_classes: {CLASSES})")
    pixels, labels = load_bundled_digits()
    images = (pixels / 16.0).astype(np.float32)
    train, val, test = _split_indices(len(labels))
    mean, std = images[train].mean(), images[train].std()

    def tensors(index) -> TensorDataset:
        x = torch.from_numpy((images[index] - mean) / std).unsqueeze(1)
        return TensorDataset(x, torch.from_numpy(labels[index]))

    return DataSplits(tensors(train), tensors(val), tensors(test), num_classes=CLASSES, input_shape=SHAPE)
