"""Random images shaped for the model (torchvision FakeData), for smoke runs and tests."""
from __future__ import annotations

from torchvision import transforms
from torchvision.datasets import FakeData

from .config import BaseDatasetConfig, DatasetConfig
from .registry import DATASETS, DataSplits, Shape

DEFAULT_SIZE = 256


@DATASETS.register("fake", config=BaseDatasetConfig,
                   description="random images shaped for the model (size settable)")
def fake(config: DatasetConfig, input_shape: Shape, num_classes: int) -> DataSplits:
    train_size = config.size or DEFAULT_SIZE
    eval_size = max(1, train_size // 4)

    def split(size: int, offset: int) -> FakeData:
        # FakeData seeds image i with i + random_offset: disjoint offsets give distinct splits
        return FakeData(size=size, image_size=tuple(input_shape), num_classes=num_classes,
                        transform=transforms.ToTensor(), random_offset=offset)

    return DataSplits(
        train=split(train_size, 0),
        val=split(eval_size, train_size),
        test=split(eval_size, train_size + eval_size),
        num_classes=num_classes,
        input_shape=tuple(input_shape),
    )
