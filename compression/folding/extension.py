"""BatchNormFolder: the schedule extension that folds BatchNorms into their convolutions at the start of
the epochs its policy names (from then on training goes on without them)."""
from __future__ import annotations

from typing import List

import torch

from ..core.components import EXTENSIONS, BuildContext
from ..core.errors import UserError
from ..factorization.conflicts import policy_parameters
from ..policies import Policy, StepContext
from .configs import BatchNormFolderConfig
from .fold import FoldPlan, fold_batchnorms, foldable_pairs


class BatchNormFolder:
    """Finds the (Conv2d, BatchNorm) pairs when built; its policy folds them."""

    def __init__(self, config: BatchNormFolderConfig, context: BuildContext):
        self.config = config
        self.context = context
        self.pairs, self.skipped = foldable_pairs(context.model, self._example(), config.layers)
        if config.layers and not self.pairs:
            raise UserError(f"layers {config.layers} select no Conv2d with a BatchNorm to fold"
                            + "".join(f"; {s['layer']}: {s['reason']}" for s in self.skipped))
        self.specs: List = []  # its policies, for the order checks

    def _example(self) -> torch.Tensor:
        return self.context.example_input("BatchNormFolder")

    def policy(self, spec) -> "FoldingPolicy":
        self.specs.append(spec)
        return FoldingPolicy(self)

    def fold(self) -> FoldPlan:
        context = self.context
        return fold_batchnorms(context.model, self._example(), self.config.layers, context.optimizer, context.masks)

    def check_schedule(self, schedule) -> None:
        """Once every component is built: what would hold on to a BatchNorm that goes, or to weights folding
        rescales after they were shared or quantized, is refused before training starts."""
        problems = _batchnorm_users(schedule, self.context.model, set(self.pairs.values()))
        folds = [(epoch, spec.index) for spec in self.specs for epoch in spec.epochs]
        for spec in schedule.policies:
            if spec.kind == "quantizer" and spec.epochs and folds and (min(spec.epochs), spec.index) < max(folds):
                problems.append(f"quantizer '{spec.instance}' starts at epoch {min(spec.epochs)}, but BatchNorms "
                                f"are folded at epoch {max(folds)[0]}: folding rescales the weights it shares or "
                                "quantizes; fold first (an earlier epoch, or the same one with the folder's "
                                "policy listed before the quantizer's)")
        if problems:
            raise UserError("; ".join(dict.fromkeys(problems)))


def _batchnorm_users(schedule, model, batchnorms) -> List[str]:
    return [f"{spec.kind} '{spec.instance}' works on {name}, a parameter of a BatchNorm that BatchNormFolder "
            "folds away: leave that layer out of one of them"
            for spec, name in policy_parameters(schedule, model) if name.rpartition(".")[0] in batchnorms]


class FoldingPolicy(Policy):
    """At the start of each epoch it is due: fold what is not folded yet."""

    def __init__(self, folder: BatchNormFolder):
        self.folder = folder
        self.plans: List[FoldPlan] = []

    def on_epoch_begin(self, ctx: StepContext) -> None:
        self.plans.append(self.folder.fold())


EXTENSIONS.add("BatchNormFolder", BatchNormFolder, BatchNormFolderConfig,
               "Fold each Conv2d's BatchNorm into its weights and a bias; training goes on without it.")
