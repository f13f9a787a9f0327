"""ImageNet-style folders: data_dir/train/<class>/*.jpg and data_dir/val/<class>/*.jpg."""
from __future__ import annotations

import os

from torchvision import transforms as T
from torchvision.datasets import ImageFolder

from compressor.compression.core.errors import DataNotFound, UserError

from .config import BaseDatasetConfig, DatasetConfig
from .registry import DATASETS, DataSplits, Shape, require_data_dir
from .transforms import IMAGENET_MEAN, IMAGENET_STD, to_model_channels, to_normalised_tensor

RESIZE_RATIO = 256 / 224


def _transform(shape: Shape, train: bool) -> T.Compose:
    size = tuple(shape[1:])
    if train:
        steps = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        steps = [T.Resize(round(min(size) * RESIZE_RATIO)), T.CenterCrop(size)]
    steps = to_model_channels(3, shape) + steps
    return T.Compose(steps + to_normalised_tensor(IMAGENET_MEAN, IMAGENET_STD, shape))


def _folder(root: str, split: str, transform: T.Compose) -> ImageFolder:
    path = os.path.join(root, split)
    if not os.path.isdir(path):
        refusal = UserError if os.path.isdir(root) else DataNotFound  # --data-dir is here but not laid out so
        raise refusal(f"dataset 'imagenet': folder {path} not found "
                      f"(expected {split}/<class>/<image> under --data-dir)")
    try:
        return ImageFolder(path, transform=transform)
    except (FileNotFoundError, OSError) as error:
        raise UserError(f"dataset 'imagenet': {path}: {error}") from None


@DATASETS.register("imagenet", config=BaseDatasetConfig,
                   description="ImageFolder train/ and val/ under --data-dir (val also serves as test)")
def imagenet(config: DatasetConfig, input_shape: Shape, num_classes: int) -> DataSplits:
    root = require_data_dir(config)
    train = _folder(root, "train", _transform(input_shape, train=True))
    val = _folder(root, "val", _transform(input_shape, train=False))
    return DataSplits(train, val, val, num_classes=len(train.classes), input_shape=tuple(input_shape))
