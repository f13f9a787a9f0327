"""Pruning: masks, element-wise and structured pruners, regularizers (registered by compression.builtins)."""
