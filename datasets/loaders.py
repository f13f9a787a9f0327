"""DataLoaders whose training order is a function of the run seed (and epoch)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from .registry import DataSplits


@dataclass
class Loaders:
    train: DataLoader
    val: DataLoader
    test: DataLoader


def _loader(dataset: Dataset, batch_size: int, workers: int, **options) -> DataLoader:
    # Workers are not persistent: a persistent loader draws its worker seed from the
    # generator only in its first epoch, so batch order would depend on the worker
    # count and differ between a resumed run and an uninterrupted one.
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                      persistent_workers=False, drop_last=False, **options)


def build_loaders(splits: DataSplits, batch_size: int, workers: int, seed: int) -> Loaders:
    """Shuffled training loader driven by `loaders.train.generator`; val/test in order."""
    generator = torch.Generator().manual_seed(seed)
    return Loaders(
        train=_loader(splits.train, batch_size, workers, shuffle=True, generator=generator),
        val=_loader(splits.val, batch_size, workers),
        test=_loader(splits.test, batch_size, workers),
    )


def reseed_train_loader(loaders: Loaders, seed: int, epoch: int) -> None:
    """Make an epoch's batch order depend only on (seed, epoch), e.g. when resuming mid-run."""
    loaders.train.generator.manual_seed(seed + epoch)
