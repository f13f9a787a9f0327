"""Datasets and loaders by name: digits, mnist, cifar10, imagenet, fake, and a user's own folder or npz."""
from . import digits, fake, folder, imagenet, npz, torchvision_sets  # noqa: F401  (registration)
from .config import BaseDatasetConfig, DatasetConfig, FolderConfig, NpzConfig, recorded_options
from .loaders import Loaders, build_loaders
from .registry import DATASETS, DataSplits, build_datasets

__all__ = ["DATASETS", "BaseDatasetConfig", "DataSplits", "DatasetConfig", "FolderConfig", "Loaders", "NpzConfig",
           "build_datasets", "build_loaders", "recorded_options"]
