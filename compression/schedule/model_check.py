"""Checks that need the model: every parameter a component names must exist in it."""
from __future__ import annotations

from typing import List, Tuple

from torch import nn

from ..core.errors import Problem, ScheduleError, did_you_mean
from ..core.param_names import resolve_parameter_name
from .model import Schedule


def check_against_model(schedule: Schedule, model: nn.Module) -> None:
    """Components whose config names parameters (`referenced_parameters()`) are checked against the model."""
    names = [name for name, _ in model.named_parameters()]
    problems: List[Problem] = []
    for section in schedule.components.values():
        for spec in section.values():
            for key, parameter in _references(spec.config):
                try:
                    resolve_parameter_name(parameter, names)
                except KeyError:
                    message = did_you_mean(parameter, names, "parameter", limit=200)
                    problems.append(Problem(f"{spec.path}.{key}", message, spec.line_of(key)))
    if problems:
        raise ScheduleError(problems, schedule.source)


def _references(config) -> List[Tuple[str, str]]:
    method = getattr(config, "referenced_parameters", None)
    return list(method()) if callable(method) else []
