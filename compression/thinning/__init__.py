"""Physically remove zeroed filters and channels (and everything that depends on them)."""
from . import extensions  # noqa: F401  (registers StructureRemover, FilterRemover, ChannelRemover)
from .detect import find_zero_structures
from .plan import ThinningPlan, recorded_plan
from .ranking import zero_filters_of, zero_weakest_filter_groups
from .remove import remove_structures
from .replay import apply_plan

__all__ = ["ThinningPlan", "apply_plan", "find_zero_structures", "recorded_plan", "remove_structures",
           "zero_filters_of", "zero_weakest_filter_groups"]
