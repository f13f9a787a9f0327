"""Several processes training one model (torchrun): who this process is, and what ranks share.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK for every process it starts. With more than
one process the run joins a process group (gloo on CPU, nccl on CUDA) and the model trains
under DistributedDataParallel. Every helper here is a no-op in a single process, so the
library calls them unconditionally.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List

import torch
import torch.distributed as dist

from .core.errors import UserError


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes of a run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun (then DistributedDataParallel even for one process)

    @property
    def enabled(self) -> bool:
        return self.launched or self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def ranks_from_environment() -> Ranks:
    """The ranks torchrun gave this process; one process when it was started without torchrun."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Ranks()
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as err:
        raise UserError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers ({err})") from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise UserError(f"RANK {rank} does not fit WORLD_SIZE {world_size}")
    return Ranks(rank, world_size, local_rank, launched=True)


def process_device(device: torch.device, ranks: Ranks) -> torch.device:
    """Each process of a CUDA run takes the GPU of its local rank."""
    if ranks.enabled and device.type == "cuda":
        return torch.device("cuda", ranks.local_rank)
    return device


def join(ranks: Ranks, device: torch.device) -> None:
    """Join the process group torchrun prepared (MASTER_ADDR/MASTER_PORT come from the environment)."""
    if not ranks.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, rank=ranks.rank, world_size=ranks.world_size)
    except (RuntimeError, ValueError) as err:
        raise UserError(f"cannot join the {backend} process group of {ranks.world_size} processes: "
                        f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    return not active() or dist.get_rank() == 0


def sum_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum over all processes (the tensor itself in a single process)."""
    if active():
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def mean_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    if not active():
        return tensor
    return sum_across_ranks(tensor) / dist.get_world_size()


def any_rank(flags: torch.Tensor) -> torch.Tensor:
    """Element-wise: true where any process has a true flag, so every process takes the same branch."""
    if not active():
        return flags.bool()
    return sum_across_ranks(flags.to(torch.float32)) > 0


def broadcast_from_main(tensors: Iterable[torch.Tensor]) -> None:
    """Overwrite each tensor, in place, with rank 0's values."""
    broadcast_from(tensors, 0)


def broadcast_from(tensors: Iterable[torch.Tensor], source: int) -> None:
    """Overwrite each tensor, in place, with the values of process `source`."""
    if not active():
        return
    for tensor in tensors:
        if tensor.dtype == torch.bool:  # not every backend broadcasts bool tensors
            carrier = tensor.to(torch.uint8)
            dist.broadcast(carrier, src=source)
            tensor.copy_(carrier.bool())
        else:
            dist.broadcast(tensor, src=source)


def world_size() -> int:
    """How many processes share the work (1 outside a process group)."""
    return dist.get_world_size() if active() else 1


def barrier() -> None:
    if active():
        dist.barrier()


def my_share(count: int) -> List[int]:
    """The indices of `count` equal work items this process takes: every world_size-th, from its rank."""
    if not active():
        return list(range(count))
    return list(range(dist.get_rank(), count, dist.get_world_size()))


def gather_shares(results: Dict[int, Any]) -> List[Any]:
    """Every process's {index: result} joined, in index order, on every process (pickled objects)."""
    if not active():
        return [results[index] for index in sorted(results)]
    gathered: List[Dict[int, Any]] = [{} for _ in range(dist.get_world_size())]
    dist.all_gather_object(gathered, results)
    joined = {index: value for part in gathered for index, value in part.items()}
    return [joined[index] for index in sorted(joined)]
