"""What every pruner shares: its weights, resolved against the model, and its policy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, TypeVar

import torch

from ..core.components import BuildContext
from ..core.errors import UserError, did_you_mean
from ..core.param_names import resolve_parameter_name

V = TypeVar("V")


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


def resolve_per_weight(values: Dict[str, V], context: BuildContext) -> Dict[str, V]:
    """A {parameter: value} mapping keyed by the model's own names, as `weights:` lists are resolved
    (Distiller's `features.module.0.weight` is `features.0.weight`); '*' stays the default."""
    available = list(context.masks.params)
    resolved: Dict[str, V] = {}
    for name, value in values.items():
        if name == "*":
            resolved[name] = value
            continue
        try:
            resolved[resolve_parameter_name(name, available)] = value
        except KeyError:
            raise UserError(did_you_mean(name, available, "parameter", limit=200)) from None
    return resolved


def per_weight_value(values: Dict[str, V], name: str) -> Optional[V]:
    """The setting of the model's parameter `name` in a resolved mapping, or the '*' default (None without one)."""
    return values[name] if name in values else values.get("*")
