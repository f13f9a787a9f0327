"""compressor: make PyTorch image classifiers smaller and faster, from your own training script.

The public Python API; every name here is stable (changes come with a migration path). Names are
imported when first used, so `import compressor` itself loads nothing heavy.

    import compressor

    scheduler = compressor.CompressionScheduler.from_yaml("schedules/digits_agp.yaml", model, optimizer)
    stats = compressor.collect_stats(model, calibration_loader)
    quantizer = compressor.PostTrainLinearQuantizer(model, model_activation_stats=stats)
    plan = compressor.thin(model, example_input)

Errors in what is passed in raise `compressor.UserError` (hooks called out of order:
`compressor.HookOrderError`, a subclass).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

_EXPORTS: Dict[str, Tuple[str, str]] = {
    "CompressionScheduler": ("compressor.compression.scheduler", "CompressionScheduler"),
    "file_config": ("compressor.compression.scheduler", "file_config"),
    "HookOrderError": ("compressor.compression.scheduler", "HookOrderError"),
    "UserError": ("compressor.compression.core.errors", "UserError"),
    "collect_stats": ("compressor.compression.quantization.stats", "collect_stats"),
    "save_stats": ("compressor.compression.quantization.stats_format", "write_stats"),
    "PostTrainLinearQuantizer": ("compressor.compression.quantization.post_train_quantizer",
                                 "PostTrainLinearQuantizer"),
    "thin": ("compressor.compression.thinning.remove", "thin"),
    "sensitivity": ("compressor.compression.workflows.sensitivity", "sensitivity"),
    "export": ("compressor.compression.export", "export"),
    "pack": ("compressor.compression.packing", "pack"),
    "save_checkpoint": ("compressor.compression.model_checkpoint", "save_model_checkpoint"),
    "load_packed_model": ("compressor.compression.packing", "load_packed_model"),
    "load_packed_int8": ("compressor.compression.packing_int8", "load_packed_int8"),
    "read_packed": ("compressor.compression.packing", "read_packed_file"),
    "distillation_loss": ("compressor.compression.distillation", "distillation_loss"),
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time names load on first use
    from .compression.core.errors import UserError
    from .compression.distillation import distillation_loss
    from .compression.export import export
    from .compression.packing import load_packed_model, pack
    from .compression.packing import read_packed_file as read_packed
    from .compression.model_checkpoint import save_model_checkpoint as save_checkpoint
    from .compression.packing_int8 import load_packed_int8
    from .compression.quantization.post_train_quantizer import PostTrainLinearQuantizer
    from .compression.quantization.stats import collect_stats
    from .compression.quantization.stats_format import write_stats as save_stats
    from .compression.scheduler import CompressionScheduler, HookOrderError, file_config
    from .compression.thinning.remove import thin
    from .compression.workflows.sensitivity import sensitivity


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'compressor' has no attribute '{name}'")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(_EXPORTS) | {name for name in globals() if name.startswith("__")})
