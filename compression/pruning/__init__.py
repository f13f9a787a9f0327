"""Pruning: masks, element-wise and structured pruners, regularizers."""
