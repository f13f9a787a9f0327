"""Regularizers: L1, group lasso and group variance penalties, optionally thresholded into masks."""
from __future__ import annotations

from typing import Dict, Optional

import torch

from ..core.components import REGULARIZERS
from ..core.errors import UserError
from ..policies import Policy, StepContext
from .base import resolve_weights
from .configs import GroupConfig, L1Config
from .masks import zero_pruned
from .structures import check_group_type, expand_structure_mask, structure_scores

_CRITERIA = {"Mean_Abs": "l1", "Max": "max", "L2": "l2"}


class Regularizer:
    """A loss term over some weights; with threshold_criteria, small weights or groups are zeroed."""

    def __init__(self, config, context):
        if config.threshold_criteria is not None and config.threshold_criteria not in _CRITERIA:
            raise UserError(f"threshold_criteria must be one of {', '.join(_CRITERIA)}, "
                            f"got '{config.threshold_criteria}'")
        self.config = config
        self.context = context
        names = resolve_weights(list(config.reg_regims), context)
        self.regims = dict(zip(names, config.reg_regims.values()))
        for name, regim in self.regims.items():
            if isinstance(regim, tuple):
                check_group_type(regim[1], context.masks.params[name], name)

    def loss(self) -> torch.Tensor:
        params = self.context.masks.params
        return sum(self.penalty(params[name], regim) for name, regim in self.regims.items())

    def threshold_masks(self) -> Dict[str, torch.Tensor]:
        params = self.context.masks.params
        masks = {}
        for name, regim in self.regims.items():
            strength, group_type = regim if isinstance(regim, tuple) else (regim, None)
            masks[name] = self.threshold_mask(params[name], strength, group_type)
        return masks

    def threshold_mask(self, weight: torch.Tensor, strength: float, group_type: Optional[str]) -> torch.Tensor:
        norm = _CRITERIA[self.config.threshold_criteria]
        if group_type is None:
            return weight.detach().abs() > strength
        return expand_structure_mask(structure_scores(weight, group_type, norm) > strength, weight, group_type)

    def penalty(self, weight: torch.Tensor, regim) -> torch.Tensor:
        raise NotImplementedError

    def policy(self, spec) -> "RegularizationPolicy":
        return RegularizationPolicy(self, spec)


@REGULARIZERS.register("L1Regularizer", config=L1Config,
                       description="strength * sum(|w|) per parameter: drives weights to zero.")
class L1Regularizer(Regularizer):
    def penalty(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        return strength * weight.abs().sum()


@REGULARIZERS.register("GroupLassoRegularizer", config=GroupConfig,
                       description="strength * sum of group L2 norms: drives whole filters/channels/rows to zero.")
class GroupLassoRegularizer(Regularizer):
    def penalty(self, weight: torch.Tensor, regim) -> torch.Tensor:
        strength, group_type = regim
        return strength * _group_norms(weight, group_type).sum()


@REGULARIZERS.register("GroupVarianceRegularizer", config=GroupConfig,
                       description="strength * variance of group L2 norms: evens out the groups.")
class GroupVarianceRegularizer(Regularizer):
    def penalty(self, weight: torch.Tensor, regim) -> torch.Tensor:
        strength, group_type = regim
        norms = _group_norms(weight, group_type)
        return strength * norms.var() if norms.numel() > 1 else weight.sum() * 0


def _group_norms(weight: torch.Tensor, group_type: str) -> torch.Tensor:
    from .structures import structures_view

    return structures_view(weight, group_type).norm(p=2, dim=1)


class RegularizationPolicy(Policy):
    """Adds the penalty before backward; with thresholds, zeroes small weights after each step.

    Those zeros are one-off (training may revive them) until the last step of the policy's
    last epoch with `keep_mask: true`, when they become permanent masks (Distiller's semantics).
    """

    def __init__(self, regularizer: Regularizer, spec):
        self.regularizer = regularizer
        self.spec = spec

    def before_backward(self, ctx: StepContext, loss: torch.Tensor) -> torch.Tensor:
        return self.regularizer.loss()

    @torch.no_grad()
    def after_optimizer_step(self, ctx: StepContext) -> None:
        if self.regularizer.config.threshold_criteria is None:
            return
        masks = self.regularizer.threshold_masks()
        params = self.regularizer.context.masks.params
        for name, keep in masks.items():
            zero_pruned(params[name], keep)
        last_step = ctx.epoch == self.spec.epochs[-1] and ctx.step == ctx.steps_per_epoch - 1
        if last_step and self.spec.args.keep_mask:
            for name, keep in masks.items():
                self.regularizer.context.masks.set(name, keep)
