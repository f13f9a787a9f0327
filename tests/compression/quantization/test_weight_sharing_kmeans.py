"""One-dimensional k-means: the three initialisations and Lloyd's iterations."""
import pytest
import torch

from compressor.compression.quantization.kmeans import initial_centroids, kmeans_1d


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


VALUES = torch.tensor([-0.9, -0.5, -0.4, 0.1, 0.2, 0.25, 0.3, 1.1], dtype=torch.float64)


def test_linear_init_spaces_the_centroids_evenly_from_min_to_max():
    centroids = initial_centroids(VALUES, 5, "linear", generator())
    assert torch.allclose(centroids, torch.tensor([-0.9, -0.4, 0.1, 0.6, 1.1], dtype=torch.float64))


def test_density_init_puts_the_centroids_at_quantiles():
    values = torch.arange(100, dtype=torch.float64)
    centroids = initial_centroids(values[torch.randperm(100, generator=generator())], 4, "density", generator())
    assert centroids.tolist() == [12.0, 37.0, 62.0, 87.0]


def test_random_init_draws_k_distinct_values_by_seed():
    first = initial_centroids(VALUES, 4, "random", generator(3))
    assert torch.equal(first, initial_centroids(VALUES, 4, "random", generator(3)))
    assert len(set(first.tolist())) == 4 and set(first.tolist()) <= set(VALUES.tolist())
    assert first.tolist() == sorted(first.tolist())
    draws = {tuple(initial_centroids(VALUES, 4, "random", generator(seed)).tolist()) for seed in range(5)}
    assert len(draws) > 1


def test_lloyd_finds_the_means_of_separated_groups():
    low, high = torch.tensor([-1.0, -1.2, -0.8]), torch.tensor([2.0, 2.5, 3.0, 3.5])
    values = torch.cat([high, low]).double()
    centroids, assignment = kmeans_1d(values, 2, "density", 10, generator())
    assert torch.allclose(centroids, torch.tensor([-1.0, 2.75], dtype=torch.float64))
    assert assignment.tolist() == [1, 1, 1, 1, 0, 0, 0]


def test_each_centroid_is_the_mean_of_its_members():
    values = torch.randn(500, generator=generator(), dtype=torch.float64)
    centroids, assignment = kmeans_1d(values, 8, "linear", 3, generator())
    for cluster in range(8):
        members = values[assignment == cluster]
        if len(members):
            assert torch.isclose(centroids[cluster], members.mean())


@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_a_pruned_layer_uses_all_k_clusters(init):
    """Linear centroids in the gap around zero would stay empty: they move to the values farthest away."""
    values = torch.randn(4000, generator=generator(), dtype=torch.float64)
    kept = values[values.abs() > 1.5]
    _, assignment = kmeans_1d(kept, 16, init, 20, generator())
    assert len(torch.unique(assignment)) == 16


def test_fewer_values_than_clusters_keeps_every_value():
    values = torch.tensor([0.5, -0.25, 0.5, 2.0], dtype=torch.float64)
    for init in ("linear", "density", "random"):
        centroids, assignment = kmeans_1d(values, 8, init, 10, generator())
        assert torch.equal(centroids[assignment], values)
