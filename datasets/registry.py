"""The dataset registry and the splits every dataset returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Tuple

from compressor.compression.core.errors import DataNotFound
from compressor.compression.core.registry import Registry

from .config import DatasetConfig

if TYPE_CHECKING:  # the registry is read without torch when a schedule is checked
    from torch.utils.data import Dataset

DATASETS = Registry("dataset", "datasets")

Shape = Tuple[int, int, int]


@dataclass
class DataSplits:
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    input_shape: Shape


def target_shape(config: DatasetConfig, input_shape: Shape) -> Shape:
    """The (C, H, W) the model is fed: its own input shape, with `image_size` replacing H and W."""
    channels, height, width = input_shape
    if config.image_size is not None:
        height = width = config.image_size
    return (channels, height, width)


def require_data_dir(config: DatasetConfig) -> str:
    if not config.data_dir:
        raise DataNotFound(f"dataset '{config.name}' needs a data folder: pass --data-dir or set dataset.data_dir")
    return config.data_dir


def build_datasets(config: DatasetConfig, input_shape: Shape, num_classes: int, seed: int) -> DataSplits:
    """Train/val/test splits shaped for a model taking `input_shape` and predicting `num_classes`.

    Splits are fixed: they do not depend on `seed`, so runs with different seeds see the
    same validation and test images. The seed only orders training batches (see loaders).
    """
    factory = DATASETS.get(config.name).factory
    return factory(config, target_shape(config, tuple(input_shape)), num_classes)
