"""One layer's shared weight: each weight is one of k centroids, or a pruned zero that belongs to none.

Han et al.'s rule, "the gradient of a centroid is the sum of its members' gradients", is carried out
on the weight itself: a gradient hook gives every member its cluster's summed (or, by choice, mean)
gradient, and the members' optimizer state starts afresh when the layer is clustered. Every member
of a cluster then takes the same optimizer step (momentum, weight decay and Adam's moments
included): the step the optimizer would take on the centroid as a parameter. After each step the
weights are written again from the centroids, which absorbs rounding and keeps non-members at zero.
The weight stays the parameter the optimizer, the masks, checkpoints and several processes know.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import torch
from torch import nn

from .kmeans import kmeans_1d


class SharedLayer:
    """`index` (int32, the weight's shape) names each weight's centroid; `len(centroids)` marks a non-member.

    `keep` returns the weight's current pruning mask (None: unpruned): a pruner still due while the
    weights are shared may drop members at any epoch or step, and a dropped weight leaves its
    cluster before its gradient is summed into the centroid's.
    """

    def __init__(self, module: nn.Module, index: torch.Tensor, centroids: torch.Tensor, mean: bool = False,
                 keep: Optional[Callable[[], Optional[torch.Tensor]]] = None):
        self.param = module.weight
        self.index = index.to(device=self.param.device, dtype=torch.int32)
        self.centroids = centroids.to(device=self.param.device, dtype=self.param.dtype)
        self.mean = mean  # the members' mean gradient instead of their sum
        self.keep = keep or (lambda: None)
        self._index_changed()
        self._hook = self.param.register_hook(self.shared_gradient)

    @classmethod
    def cluster(cls, module: nn.Module, keep: Callable[[], Optional[torch.Tensor]], k: int, init: str,
                iterations: int, generator: torch.Generator, mean: bool = False) -> "SharedLayer":
        """Cluster the layer's non-zero weights (kept by `keep()`, its pruning mask, if any) into k centroids."""
        weight = module.weight.detach()
        members = weight != 0
        mask = keep()
        if mask is not None:
            members &= mask.to(members.device)
        index = torch.full(weight.shape, k, dtype=torch.int32, device=weight.device)
        centroids = torch.zeros(k, dtype=torch.float64)
        values = weight[members].cpu().double()  # on the CPU: the same clusters on every device
        if len(values):
            centroids, assignment = kmeans_1d(values, k, init, iterations, generator)
            index[members] = assignment.to(device=weight.device, dtype=torch.int32)
        layer = cls(module, index, centroids, mean, keep)
        layer.write()
        return layer

    @property
    def k(self) -> int:
        return len(self.centroids)

    def shared_gradient(self, grad: torch.Tensor) -> torch.Tensor:
        """Each member's gradient becomes its cluster's summed (or mean) gradient; a non-member's is zero."""
        self.follow_mask()
        flat = self.index.flatten()
        sums = torch.zeros(self.k + 1, dtype=grad.dtype, device=grad.device).index_add_(0, flat, grad.flatten())
        sums[self.k] = 0
        if self.mean:
            sums /= self._sizes.to(grad.dtype)
        return sums.index_select(0, flat).view_as(grad)

    @torch.no_grad()
    def follow_mask(self) -> None:
        """A weight its pruning mask has dropped since leaves its cluster for good."""
        keep = self.keep()
        if keep is None:
            return
        dropped = ~keep.to(self.index.device) & (self.index < self.k)
        if dropped.any():
            self.index[dropped] = self.k
            self._index_changed()

    @torch.no_grad()
    def after_step(self) -> None:
        """Read the centroids' new values off the weights, then write every weight from its centroid."""
        self.follow_mask()
        clusters, positions = self._first_members
        self.centroids[clusters] = self.param.detach().flatten()[positions]
        self.write()

    @torch.no_grad()
    def write(self) -> None:
        values = torch.cat([self.centroids, self.centroids.new_zeros(1)])
        self.param.copy_(values.index_select(0, self.index.flatten()).view_as(self.param))

    def _index_changed(self) -> None:
        """Each cluster's size, and the flat position of the first member of each cluster that has one."""
        flat = self.index.flatten().long()
        self._sizes = torch.bincount(flat, minlength=self.k + 1).clamp_min(1)
        positions = torch.arange(len(flat), device=flat.device)
        first = torch.full((self.k + 1,), len(flat), device=flat.device).scatter_reduce_(
            0, flat, positions, "amin")[:self.k]
        clusters = torch.nonzero(first < len(flat)).flatten()
        self._first_members = clusters, first[clusters]

    def distinct_values(self) -> int:
        """Distinct non-zero values of the weight."""
        weight = self.param.detach()
        return len(torch.unique(weight[weight != 0]))

    def state_dict(self) -> Dict[str, Any]:
        return {"index": self.index.cpu().clone(), "centroids": self.centroids.cpu().clone()}

    def remove(self) -> None:
        self._hook.remove()
