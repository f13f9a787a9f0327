"""The schedule file: safe loading, typed validation, the Schedule model."""
from .. import lr_schedulers as _register_lr_schedulers  # noqa: F401  (fills the registries)
from .. import pruning as _register_pruners  # noqa: F401
from .. import thinning as _register_thinning  # noqa: F401
from ..quantization import qat as _register_qat  # noqa: F401
from ..quantization import registration as _register_post_training  # noqa: F401
from .model import ComponentSpec, PolicySpec, Schedule
from .parse import load_schedule, parse_schedule, parse_schedule_text

__all__ = ["ComponentSpec", "PolicySpec", "Schedule", "load_schedule", "parse_schedule", "parse_schedule_text"]
