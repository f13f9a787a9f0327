"""The schedule file: safe loading, typed validation, the Schedule model."""
from .model import ComponentSpec, PolicySpec, Schedule
from .parse import load_schedule, parse_schedule, parse_schedule_text

__all__ = ["ComponentSpec", "PolicySpec", "Schedule", "load_schedule", "parse_schedule", "parse_schedule_text"]
