"""Datasets and loaders by name: digits, fashion_mnist, mnist, cifar10, imagenet, fake, a user's folder or npz."""
from compressor.compression.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "BaseDatasetConfig": ".config",
    "DATASETS": ".registry",
    "DataSplits": ".registry",
    "DatasetConfig": ".config",
    "FolderConfig": ".config",
    "Loaders": ".loaders",
    "NpzConfig": ".config",
    "build_datasets": ".registry",
    "build_loaders": ".loaders",
    "recorded_options": ".config",
})
__all__ = sorted(__dir__())
