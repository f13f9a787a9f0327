"""Pruning: masks, element-wise and structured pruners, regularizers."""
from . import data_ranked, element_pruners, nm_pruner, regularizers, structure_pruners  # noqa: F401  (registration)
