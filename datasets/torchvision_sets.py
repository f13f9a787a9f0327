"""MNIST and CIFAR-10 from a local folder (downloaded only when asked)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch.utils.data import Subset
from torchvision import datasets as tv
from torchvision import transforms as T

from compressor.compression.core.errors import DataNotFound, UserError

from .config import BaseDatasetConfig, DatasetConfig
from .registry import DATASETS, DataSplits, Shape, require_data_dir
from .transforms import resize_to, to_model_channels, to_normalised_tensor

SPLIT_SEED = 0


@dataclass(frozen=True)
class Source:
    cls: Callable
    folder: str
    channels: int
    size: int
    classes: int
    val_size: int
    mean: Sequence[float]
    std: Sequence[float]
    augment: Callable[[int], list]


def _no_augment(size: int) -> list:
    return []


def _crop_and_flip(size: int) -> list:
    return [T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip()]


MNIST = Source(tv.MNIST, "MNIST", 1, 28, 10, 5000, (0.1307,), (0.3081,), _no_augment)
CIFAR10 = Source(tv.CIFAR10, "cifar-10-batches-py", 3, 32, 10, 5000,
                 (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), _crop_and_flip)


def _transform(source: Source, shape: Shape, train: bool) -> T.Compose:
    steps = to_model_channels(source.channels, shape) + resize_to(source.size, shape)
    if train:
        steps += source.augment(shape[1])
    return T.Compose(steps + to_normalised_tensor(source.mean, source.std, shape))


def _open(source: Source, config: DatasetConfig, train: bool, transform: T.Compose):
    root = require_data_dir(config)
    try:
        return source.cls(root, train=train, transform=transform, download=config.download)
    except (RuntimeError, OSError) as error:
        where = os.path.join(root, source.folder)
        if config.download:
            raise UserError(f"dataset '{config.name}': download into {where} failed: {error}") from None
        refusal = UserError if os.path.isdir(where) else DataNotFound  # a folder that is there is a broken copy
        raise refusal(f"dataset '{config.name}' not found in {where}; pass --data-dir pointing at the "
                      "folder that holds it, or set download: true to fetch it") from None


def _splits(source: Source, config: DatasetConfig, shape: Shape, num_classes: int) -> DataSplits:
    if num_classes < source.classes:
        raise UserError(f"dataset '{config.name}' has {source.classes} classes but the model predicts {num_classes} "
                        f"(set model.num_classes: {source.classes})")
    train_aug = _open(source, config, True, _transform(source, shape, train=True))
    train_eval = _open(source, config, True, _transform(source, shape, train=False))
    test = _open(source, config, False, _transform(source, shape, train=False))
    if len(train_aug) <= source.val_size:
        raise UserError(f"dataset '{config.name}' in {os.path.join(config.data_dir, source.folder)} has "
                        f"{len(train_aug)} training images; more than {source.val_size} are needed")
    # a fixed split of the official training set, so validation never depends on the run seed
    order = torch.randperm(len(train_aug), generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    cut = len(order) - source.val_size
    return DataSplits(Subset(train_aug, order[:cut]), Subset(train_eval, order[cut:]), test,
                      num_classes=source.classes, input_shape=tuple(shape))


@DATASETS.register("mnist", config=BaseDatasetConfig,
                   description="MNIST 28x28 digits from --data-dir (55000/5000/10000)")
def mnist(config: DatasetConfig, input_shape: Shape, num_classes: int) -> DataSplits:
    return _splits(MNIST, config, input_shape, num_classes)


@DATASETS.register("cifar10", config=BaseDatasetConfig,
                   description="CIFAR-10 32x32 colour images from --data-dir (45000/5000/10000)")
def cifar10(config: DatasetConfig, input_shape: Shape, num_classes: int) -> DataSplits:
    return _splits(CIFAR10, config, input_shape, num_classes)
