"""Rehearse a schedule's structure changes on a copy of the model before training, so that what a
layer can take after an earlier thinning (a factorizer's fixed rank, its MACs budget) is checked
before the first batch instead of failing part-way through the run.

Only pruners and extensions run, at the epochs they are due, without data: masks follow the
pruners' targets (a pure function of the epoch; data-ranked pruners rank by weights here), then
thinning and folding change the copy as they will change the model.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import nn

from .core.components import POLICY_KEYS, BuildContext
from .core.errors import Problem, ScheduleError, UserError
from .policies import StepContext
from .pruning.masks import MaskStore
from .schedule.model import PolicySpec, Schedule

_REHEARSED_KINDS = ("pruner", "extension")
_CHECKED_CLASS = "LowRankFactorizer"


def rehearsal_needed(schedule: Schedule, start_epoch: int) -> bool:
    """True when a structure change (another extension) is due before or at a factorizer's epoch."""
    last = _last_factorizer_epoch(schedule)
    if last is None:
        return False
    return any(start_epoch <= epoch <= last for spec in _extension_specs(schedule, checked=False)
               for epoch in spec.epochs)


def rehearse_structure_changes(schedule: Schedule, pristine: nn.Module, context: BuildContext,
                               start_epoch: int) -> None:
    """Run the due pruner and extension policies on `pristine` (a copy of the model before any
    component was built) from `start_epoch` to the last factorizer epoch; a UserError there becomes a
    ScheduleError at the component's YAML place. The global random state is left as it was."""
    optimizer = torch.optim.SGD(pristine.parameters(), lr=0.0)
    rehearsal = BuildContext(pristine, optimizer, MaskStore(pristine), context.input_shape, context.device)
    devices = [context.device] if context.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        policies = [_built(schedule, spec, rehearsal) for spec in schedule.policies if spec.kind in _REHEARSED_KINDS]
        last = _last_factorizer_epoch(schedule)
        changes: List[str] = []
        for epoch in range(start_epoch, last + 1):
            due = [(spec, policy) for spec, policy in policies if spec.is_due(epoch)]
            for _, policy in due:
                policy.on_epoch_begin(StepContext(epoch))
            for spec, policy in due:
                _end_epoch(schedule, spec, policy, epoch, changes)


def _built(schedule: Schedule, spec: PolicySpec, context: BuildContext) -> Tuple[PolicySpec, object]:
    component = schedule.component(POLICY_KEYS[spec.kind], spec.instance)
    return spec, component.entry.factory(component.config, context).policy(spec)


def _end_epoch(schedule: Schedule, spec: PolicySpec, policy, epoch: int, changes: List[str]) -> None:
    component = schedule.component(POLICY_KEYS[spec.kind], spec.instance)
    try:
        policy.on_epoch_end(StepContext(epoch), {})
    except UserError as err:
        after = f" after {', '.join(changes)}" if changes else ""
        message = f"at the end of epoch {epoch}{after}: {err}"
        raise ScheduleError([Problem(component.path, message, component.line)]) from None
    if spec.kind == "extension" and component.class_name != _CHECKED_CLASS:
        changes.append(f"{component.class_name} '{spec.instance}' at epoch {epoch}")


def _last_factorizer_epoch(schedule: Schedule) -> Optional[int]:
    return max((epoch for spec in _extension_specs(schedule, checked=True) for epoch in spec.epochs), default=None)


def _extension_specs(schedule: Schedule, checked: bool) -> List[PolicySpec]:
    """Extension policies whose class is (checked) or is not a LowRankFactorizer."""
    return [spec for spec in schedule.policies if spec.kind == "extension"
            and (schedule.component("extensions", spec.instance).class_name == _CHECKED_CLASS) == checked]
