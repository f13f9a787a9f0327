"""Element-wise pruners: Distiller's magnitude, level, sensitivity, splicing and AGP pruners."""
from __future__ import annotations

from typing import Dict

import torch

from ..core.components import PRUNERS
from .base import Pruner, PruneStep, per_weight_value, resolve_per_weight
from .configs import AGPConfig, LevelsConfig, SensitivitiesConfig, SplicingConfig, ThresholdsConfig
from .agp_rate import agp_target
from .ranking import magnitude_mask, threshold_mask


class _PerWeightPruner(Pruner):
    """A pruner configured by a {parameter: value} mapping with '*' as the default."""

    values_field = ""

    def __init__(self, config, context):
        values = getattr(config, self.values_field)
        super().__init__(config, context, list(values))
        self.values = resolve_per_weight(values, context)

    def value_for(self, name: str, step: PruneStep):
        return per_weight_value(self.values, name)


@PRUNERS.register("MagnitudeParameterPruner", config=ThresholdsConfig,
                  description="Prune weights whose magnitude is below a per-parameter threshold.")
class MagnitudeParameterPruner(_PerWeightPruner):
    values_field = "thresholds"

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        return {name: threshold_mask(self.weight(name), self.value_for(name, step)) for name in self.weights}


@PRUNERS.register("SparsityLevelParameterPruner", config=LevelsConfig,
                  description="Prune each parameter to an exact sparsity level by magnitude.")
class SparsityLevelParameterPruner(_PerWeightPruner):
    values_field = "levels"

    def value_for(self, name: str, step: PruneStep):
        if step.levels is not None:  # the policy's `levels` argument overrides the pruner's
            level = per_weight_value(step.levels, name)
            if level is not None:
                return level
        return super().value_for(name, step)

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        return {name: magnitude_mask(self.weight(name), self.value_for(name, step)) for name in self.weights}


@PRUNERS.register("SensitivityPruner", config=SensitivitiesConfig,
                  description="Prune weights below sensitivity * std of their tensor (Han et al.).")
class SensitivityPruner(_PerWeightPruner):
    values_field = "sensitivities"

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        masks = {}
        for name in self.weights:
            weight = self.weight(name)
            masks[name] = threshold_mask(weight, weight.detach().std().item() * self.value_for(name, step))
        return masks


@PRUNERS.register("SplicingPruner", config=SplicingConfig,
                  description="Dynamic network surgery: prune below a low threshold, splice back above a high one.")
class SplicingPruner(_PerWeightPruner):
    values_field = "sensitivities"

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        masks = {}
        for name in self.weights:
            sensitivity = self.value_for(name, step)
            if self.config.sensitivity_multiplier > 0:
                sensitivity *= (step.epoch - step.due_epochs[0]) * self.config.sensitivity_multiplier + 1
            magnitude = self.weight(name).detach().abs()
            nonzero = magnitude[magnitude > 0]
            base = (nonzero.mean() + nonzero.std() * sensitivity).item() if nonzero.numel() > 1 else 0.0
            previous = self.context.masks.get(name)
            keep = torch.ones_like(magnitude, dtype=torch.bool) if previous is None else previous.clone()
            keep[magnitude < base * self.config.low_thresh_mult] = False
            keep[magnitude > base * self.config.hi_thresh_mult] = True
            masks[name] = keep
        return masks


@PRUNERS.register("AutomatedGradualPruner", config=AGPConfig,
                  description="Raise sparsity from initial to final on a cubic schedule (Zhu & Gupta), by magnitude.")
class AutomatedGradualPruner(Pruner):
    def __init__(self, config: AGPConfig, context):
        super().__init__(config, context, config.weights)

    def target(self, step: PruneStep) -> float:
        return agp_target(self.config.initial_sparsity, self.config.final_sparsity, step.epoch, step.due_epochs)

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        sparsity = self.target(step)
        return {name: magnitude_mask(self.weight(name), sparsity) for name in self.weights}
