"""The training order: a function of (seed, epoch) only, split between processes, resumable mid-epoch."""
from __future__ import annotations

import math
from typing import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """Shuffles each epoch from (seed, epoch) and gives this process its share.

    Like torch's DistributedSampler, the order is padded by repeating its start so that every
    process gets the same number of samples (and runs the same number of steps). Unlike it,
    an epoch can start part-way (`skip` samples), which resuming an interrupted run needs.
    """

    def __init__(self, length: int, seed: int, rank: int = 0, world_size: int = 1):
        self.length, self.seed, self.rank, self.world_size = length, seed, rank, world_size
        self.per_rank = math.ceil(length / world_size)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.length, generator=generator)
        padding = self.per_rank * self.world_size - self.length
        if padding:
            order = torch.cat([order, order.repeat(math.ceil(padding / self.length))[:padding]])
        return iter(order[self.rank::self.world_size][self.skip:].tolist())

    def __len__(self) -> int:
        return max(self.per_rank - self.skip, 0)
