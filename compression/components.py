"""One registry per kind of schedule component, keyed by the schedule section name."""
from __future__ import annotations

from .registry import Registry

PRUNERS = Registry("pruner class")
QUANTIZERS = Registry("quantizer class")
REGULARIZERS = Registry("regularizer class")
LR_SCHEDULERS = Registry("lr_scheduler class")
EXTENSIONS = Registry("extension class")

# schedule section -> (policy key, registry)
COMPONENT_SECTIONS = {
    "pruners": ("pruner", PRUNERS),
    "quantizers": ("quantizer", QUANTIZERS),
    "regularizers": ("regularizer", REGULARIZERS),
    "lr_schedulers": ("lr_scheduler", LR_SCHEDULERS),
    "extensions": ("extension", EXTENSIONS),
}
POLICY_KEYS = {policy_key: section for section, (policy_key, _) in COMPONENT_SECTIONS.items()}
