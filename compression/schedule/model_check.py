"""Checks that need the model: every parameter a component names must exist in it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, List, Tuple

from ..core.errors import Problem, ScheduleError, did_you_mean
from ..core.param_names import resolve_parameter_name
from .model import Schedule

if TYPE_CHECKING:
    from torch import nn


def check_against_model(schedule: Schedule, model: nn.Module) -> None:
    """Parameters named by components (`referenced_parameters()`) and by pruning policies' `levels`
    must be in the model, with or without Distiller's 'module.' prefixes."""
    check_parameter_names(schedule, [name for name, _ in model.named_parameters()])


def check_parameter_names(schedule: Schedule, parameters: Iterable[str]) -> None:
    """check_against_model, given the model's parameter names (no torch)."""
    names = list(parameters)
    problems: List[Problem] = []
    for section in schedule.components.values():
        for spec in section.values():
            for key, parameter in _references(spec.config):
                if not _exists(parameter, names):
                    message = did_you_mean(parameter, names, "parameter", limit=200)
                    problems.append(Problem(f"{spec.path}.{key}", message, spec.line_of(key)))
    for policy in schedule.policies:
        for parameter in getattr(policy.args, "levels", None) or {}:
            if parameter != "*" and not _exists(parameter, names):
                message = did_you_mean(parameter, names, "parameter", limit=200)
                problems.append(Problem(f"policies[{policy.index}].args.levels.{parameter}", message, policy.line))
    if problems:
        raise ScheduleError(problems, schedule.source)


def _exists(parameter: str, names: List[str]) -> bool:
    try:
        resolve_parameter_name(parameter, names)
    except KeyError:
        return False
    return True


def _references(config) -> List[Tuple[str, str]]:
    method = getattr(config, "referenced_parameters", None)
    return list(method()) if callable(method) else []
