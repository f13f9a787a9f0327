"""DataLoaders whose training order is a function of the run seed and epoch, split between processes."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from .registry import DataSplits
from .samplers import EpochSampler


@dataclass
class Loaders:
    train: DataLoader
    val: DataLoader
    test: DataLoader
    seed: int = 0

    @property
    def steps_per_epoch(self) -> int:
        """Training steps of a whole epoch in this process (however many a resumed epoch skips)."""
        return math.ceil(self.train.sampler.per_rank / self.train.batch_size)

    def begin_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Set the epoch's batch order (and worker seeds) from (seed, epoch); start after `skip_batches`."""
        self.train.sampler.set_epoch(epoch, skip_batches * self.train.batch_size)
        self.train.generator.manual_seed(self.seed * 100_003 + epoch)


def _loader(dataset: Dataset, batch_size: int, workers: int, **options) -> DataLoader:
    # Workers are not persistent: a persistent loader draws its worker seed from the
    # generator only in its first epoch, so batch order would depend on the worker
    # count and differ between a resumed run and an uninterrupted one.
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                      persistent_workers=False, drop_last=False, **options)


def build_loaders(splits: DataSplits, batch_size: int, workers: int, seed: int,
                  rank: int = 0, world_size: int = 1) -> Loaders:
    """Training batches of this process's share; validation split between processes; test whole.

    With several processes each one validates every `world_size`-th image (the sums are
    added up across processes); the test split is evaluated whole by the first process.
    """
    sampler = EpochSampler(len(splits.train), seed, rank, world_size)
    val = Subset(splits.val, range(rank, len(splits.val), world_size)) if world_size > 1 else splits.val
    return Loaders(
        train=_loader(splits.train, batch_size, workers, sampler=sampler, generator=torch.Generator()),
        val=_loader(val, batch_size, workers),
        test=_loader(splits.test, batch_size, workers),
        seed=seed,
    )
