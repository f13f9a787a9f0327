"""Distiller's thinning extensions: StructureRemover, FilterRemover and ChannelRemover."""
from __future__ import annotations

from typing import Dict, List

from ..core.components import EXTENSIONS, BuildContext
from ..policies import Policy, StepContext
from .configs import ChannelRemoverConfig, FilterRemoverConfig, StructureRemoverConfig, _DistillerArgs
from .plan import ThinningPlan
from .remove import check_runs_on, remove_structures

_KINDS = {"remove_filters": "filters", "remove_channels": "channels"}


class ThinningPolicy(Policy):
    """At the end of each epoch it is due: thin the model, move the optimizer, refit the masks."""

    def __init__(self, kind: str, context: BuildContext):
        self.kind = kind
        self.context = context
        self.plans: List[ThinningPlan] = []
        self._notes: List[str] = []

    def on_epoch_end(self, ctx: StepContext, metrics: Dict[str, float]) -> None:
        context = self.context
        example = context.example_input("thinning")
        plan = remove_structures(context.model, example, self.kind, optimizer=context.optimizer)
        if context.masks is not None:
            context.masks.refresh_shapes()
        self.plans.append(plan)
        self._notes.extend(_said(plan))

    def take_notes(self) -> List[str]:
        notes, self._notes = self._notes, []
        return notes


def _said(plan: ThinningPlan) -> List[str]:
    """What a thinning pass left in place, and why; a pass that found nothing to remove says so."""
    notes = list(plan.notes) + [f"{item['layer']} not thinned: {item['reason']}" for item in plan.skipped]
    if not plan.ops and not notes:
        notes.append(f"nothing removed: no layer has all-zero {plan.kind} (prune whole {plan.kind} first, "
                     "e.g. L1RankedStructureParameterPruner with group_type: "
                     f"{'Filters' if plan.kind == 'filters' else 'Channels'})")
    return notes


class StructureRemover:
    def __init__(self, config: _DistillerArgs, context: BuildContext):
        self.kind = _KINDS[config.thinning_func_str]
        self.context = context
        # no input shape, or one the model does not take: refused when built, not skipped at the thinning epoch
        check_runs_on(context.model, context.example_input("thinning"), "the scheduler's input_shape")

    def policy(self, spec) -> ThinningPolicy:
        return ThinningPolicy(self.kind, self.context)


EXTENSIONS.add("StructureRemover", StructureRemover, StructureRemoverConfig,
               "Physically remove zeroed filters or channels (thinning_func_str) and what depends on them.")
EXTENSIONS.add("FilterRemover", StructureRemover, FilterRemoverConfig,
               "Physically remove zeroed filters, their BatchNorm entries and the next layers' inputs.")
EXTENSIONS.add("ChannelRemover", StructureRemover, ChannelRemoverConfig,
               "Physically remove zeroed input channels and the filters that produce them.")
