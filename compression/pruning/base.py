"""What every pruner shares: its weights, resolved against the model, and its policy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch

from ..core.components import BuildContext
from ..core.errors import UserError, did_you_mean
from ..core.param_names import resolve_parameter_name


@dataclass(frozen=True)
class PruneStep:
    """When masks are being computed, and with which policy settings."""

    epoch: int
    due_epochs: Sequence[int]
    levels: Optional[Dict[str, float]] = None
    fold_batchnorm: bool = False


class Pruner:
    """Computes keep-masks for its weights; a PruningPolicy decides when."""

    decides_at_epoch_end = False  # data-driven rankers decide from statistics of the epoch just trained

    def __init__(self, config, context: BuildContext, weights: Sequence[str]):
        self.config = config
        self.context = context
        self.weights: List[str] = resolve_weights(weights, context)

    def epoch_begins(self) -> None:
        """Called at the beginning of every epoch the pruner's policy is due."""

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def policy(self, spec):
        from .policy import PruningPolicy

        return PruningPolicy(self, spec, self.context.masks)

    def weight(self, name: str) -> torch.Tensor:
        return self.context.masks.params[name]


def resolve_weights(names: Sequence[str], context: BuildContext) -> List[str]:
    """The model's names for `names`, in order; '*' stands for every Conv/Linear weight."""
    from ..sparsity import prunable_weights

    available = list(context.masks.params)
    resolved: List[str] = []
    for name in names:
        if name == "*":
            found = [weight_name for weight_name, _ in prunable_weights(context.model)]
        else:
            try:
                found = [resolve_parameter_name(name, available)]
            except KeyError:
                raise UserError(did_you_mean(name, available, "parameter", limit=200)) from None
        resolved += [n for n in found if n not in resolved]
    return resolved


def per_weight_value(values: Dict[str, float], name: str) -> Optional[float]:
    """A per-parameter setting, with '*' as the default and the 'module.' prefix optional."""
    for key in (name, f"module.{name}"):
        if key in values:
            return values[key]
    return values.get("*")
