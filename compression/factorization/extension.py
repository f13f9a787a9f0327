"""LowRankFactorizer: the schedule extension that factorizes layers at the end of the epochs its policy names."""
from __future__ import annotations

from typing import Dict, List

from ..core.components import EXTENSIONS, BuildContext
from ..core.errors import UserError
from ..policies import Policy, StepContext
from .apply import FactorizationPlan, check_ranks, factorize
from .conflicts import schedule_conflicts
from .configs import LowRankFactorizerConfig
from .selection import select_layers


class LowRankFactorizer:
    """Checks its layers and ranks on the model when built; its policy factorizes them."""

    def __init__(self, config: LowRankFactorizerConfig, context: BuildContext):
        self.config = config
        self.context = context
        self.selection = select_layers(context.model, config)
        check_ranks(context.model, self.selection, context.input_shape)

    def policy(self, spec) -> "FactorizationPolicy":
        return FactorizationPolicy(self)

    def check_schedule(self, schedule) -> None:
        """Once every component is built: nothing else may hold on to a layer that will be replaced."""
        problems = schedule_conflicts(schedule, self.context.model, self.selection.targets)
        if problems:
            raise UserError("; ".join(problems))


class FactorizationPolicy(Policy):
    """At the end of each epoch it is due: factorize, move the optimizer to the new parameters, drop
    the masks of the replaced ones. Layers already factorized are left as they are."""

    def __init__(self, factorizer: LowRankFactorizer):
        self.factorizer = factorizer
        self.plans: List[FactorizationPlan] = []

    def on_epoch_end(self, ctx: StepContext, metrics: Dict[str, float]) -> None:
        context = self.factorizer.context
        self.plans.append(factorize(context.model, self.factorizer.config, context.input_shape,
                                    optimizer=context.optimizer, masks=context.masks))


EXTENSIONS.add("LowRankFactorizer", LowRankFactorizer, LowRankFactorizerConfig,
               "Replace Conv2d and Linear layers by low-rank factorizations (SVD, spatial SVD, Tucker-2).")
