"""One-dimensional k-means (Lloyd's algorithm) with Deep Compression's three initialisations."""
from __future__ import annotations

from typing import Tuple

import torch


def initial_centroids(values: torch.Tensor, k: int, init: str, generator: torch.Generator) -> torch.Tensor:
    """k sorted starting centroids for the 1-D `values` (not empty).

    linear: evenly spaced from min to max; density: the values at the k quantiles (i + 0.5) / k;
    random: k of the values, drawn without replacement (with replacement when there are fewer than k).
    """
    if init == "linear":
        return torch.linspace(values.min().item(), values.max().item(), k, dtype=values.dtype)
    ordered = values.sort().values
    if init == "density":
        positions = ((torch.arange(k, dtype=torch.float64) + 0.5) * len(values) / k).long()
        return ordered[positions.clamp(max=len(values) - 1)]
    if init == "random":
        count = len(values)
        picks = (torch.randperm(count, generator=generator)[:k] if count >= k
                 else torch.randint(count, (k,), generator=generator))
        return values[picks].sort().values
    raise ValueError(f"unknown init '{init}'")


def nearest(values: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of each value's nearest centroid (`centroids` sorted); a tie goes to the lower one."""
    midpoints = (centroids[1:] + centroids[:-1]) / 2
    return torch.searchsorted(midpoints, values)


def cluster_means(values: torch.Tensor, assignment: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Each cluster's mean; an empty cluster keeps its previous centroid."""
    k = len(previous)
    sums = torch.zeros(k, dtype=values.dtype).index_add_(0, assignment, values)
    counts = torch.bincount(assignment, minlength=k)
    return torch.where(counts > 0, sums / counts.clamp_min(1), previous)


def relocate_empty(values: torch.Tensor, assignment: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Empty clusters take the values farthest from their centroids (as scikit-learn's k-means does), so
    that all k are used: Han's linear init leaves the centroids in a pruned layer's gap around zero empty."""
    empty = torch.nonzero(torch.bincount(assignment, minlength=len(centroids)) == 0).flatten()
    if not len(empty):
        return centroids
    distance = (values - centroids[assignment]).abs()
    farthest = distance.argsort(descending=True, stable=True)[:len(empty)]
    farthest = farthest[distance[farthest] > 0]
    moved = centroids.clone()
    moved[empty[:len(farthest)]] = values[farthest]
    return moved


def kmeans_1d(values: torch.Tensor, k: int, init: str, iterations: int,
              generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """(centroids, assignment) of the 1-D CPU tensor `values` (not empty): each centroid is the mean
    of the values assigned to it (an empty one is where it was left). Deterministic for one generator."""
    centroids = initial_centroids(values, k, init, generator)
    assignment = nearest(values, centroids)
    for _ in range(iterations):
        means = relocate_empty(values, assignment, cluster_means(values, assignment, centroids))
        if torch.equal(means, centroids):
            break
        centroids = means.sort().values
        assignment = nearest(values, centroids)
    return cluster_means(values, assignment, centroids), assignment
