"""Datasets and loaders by name: digits, fashion_mnist, mnist, cifar10, imagenet, fake, a user's folder or npz."""
from . import digits, fake, fashion_mnist, folder, imagenet, npz, torchvision_sets  # noqa: F401  (registration)
from .config import BaseDatasetConfig, DatasetConfig, FolderConfig, NpzConfig, recorded_options
from .loaders import Loaders, build_loaders
from .registry import DATASETS, DataSplits, build_datasets

__all__ = ["DATASETS", "BaseDatasetConfig", "DataSplits", "DatasetConfig", "FolderConfig", "Loaders", "NpzConfig",
           "build_datasets", "build_loaders", "recorded_options"]
