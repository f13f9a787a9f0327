"""Datasets and loaders by name: digits, mnist, cifar10, imagenet, fake."""
from . import digits, fake, imagenet, torchvision_sets  # noqa: F401  (registration)
from .config import DatasetConfig
from .loaders import Loaders, build_loaders
from .registry import DATASETS, DataSplits, build_datasets

__all__ = ["DATASETS", "DataSplits", "DatasetConfig", "Loaders", "build_datasets", "build_loaders"]
