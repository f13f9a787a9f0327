"""Physically remove zeroed filters and channels (and everything that depends on them); the extensions
are registered by compression.builtins."""
from ..core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "ThinningPlan": ".plan",
    "apply_plan": ".replay",
    "find_zero_structures": ".detect",
    "recorded_plan": ".plan",
    "remove_structures": ".remove",
    "zero_filters_of": ".ranking",
    "zero_weakest_filter_groups": ".ranking",
})
__all__ = sorted(__dir__())
