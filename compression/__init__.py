"""The compressor library: schedules, training loop, pruning, quantization, summaries."""
from .builtins import load_builtins as _load_builtins
from .catalog import declared_config as _declared_config, declared_items as _declared_items
from .core.registry import use_declarations as _use_declarations

# The registries (core, the lowest layer) know the built-ins from the shipped catalog before their
# code is imported, and load it when a factory is called: wired here, above every layer.
_use_declarations(_declared_items, _declared_config, _load_builtins)
