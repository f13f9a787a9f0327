"""Every built-in component, model and dataset, registered by one explicit call.

Each part registers its own classes when its package is imported; this is the one place that
imports them all, for what needs every registry full (the schedule parser, `compressor list`).
"""
from __future__ import annotations

import importlib

BUILTIN_PACKAGES = (
    "compressor.compression.lr_schedulers",
    "compressor.compression.pruning",
    "compressor.compression.thinning",
    "compressor.compression.quantization.qat",
    "compressor.compression.quantization.registration",
    "compressor.compression.models",
    "compressor.datasets",
)


def load_builtins() -> None:
    """Register every built-in pruner, quantizer, regularizer, lr scheduler, extension, model and dataset."""
    for name in BUILTIN_PACKAGES:
        importlib.import_module(name)
