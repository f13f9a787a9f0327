"""Structured pruners: ranked by L1/L2 norm, randomly, by activations or gradients, or by threshold."""
from __future__ import annotations

from typing import Dict

import torch

from ..core.components import PRUNERS
from ..core.errors import UserError
from .base import Pruner, PruneStep
from .batchnorm import folded_weight, following_batchnorm
from .configs import RandomLevelConfig, RankedStructureAGPConfig, RankedStructureConfig, ThresholdStructureConfig
from .agp_rate import agp_target
from .structures import check_group_type, expand_structure_mask, lowest_k_mask, structure_scores


def batchnorm_masks(model, weight_name: str, keep: torch.Tensor) -> Dict[str, torch.Tensor]:
    """A removed filter's (or Linear row's) BatchNorm channel is masked too, so the channel outputs
    exactly zero and thinning can remove it without changing what the model computes."""
    found = following_batchnorm(model, weight_name.rsplit(".", 1)[0])
    if found is None or found[1].weight is None:
        return {}
    name = found[0]
    return {f"{name}.weight": keep.clone(), f"{name}.bias": keep.clone()}


def bias_masks(params: Dict[str, torch.Tensor], weight_name: str, keep: torch.Tensor) -> Dict[str, torch.Tensor]:
    """With `prune_bias`: a removed filter's (or row's) bias entry is masked too, so a layer with no
    BatchNorm after it outputs exactly zero there and thinning can remove it."""
    bias_name = weight_name.rsplit(".", 1)[0] + ".bias"
    return {bias_name: keep.clone()} if bias_name in params else {}


class RankedStructurePruner(Pruner):
    """Removes the lowest-ranked fraction of structures; `Leader` makes the first weight decide for all."""

    norm = "l1"

    def __init__(self, config, context):
        super().__init__(config, context, config.weights)
        for name in self.weights:
            check_group_type(config.group_type, self.weight(name), name, config.block_shape)
        if config.group_dependency == "Leader":
            self._check_leader_sizes()

    def fraction(self, step: PruneStep) -> float:
        return self.config.desired_sparsity

    def scores(self, name: str, step: PruneStep) -> torch.Tensor:
        weight = self.weight(name)
        if step.fold_batchnorm and self.config.group_type in ("Filters", "3D"):
            weight = folded_weight(self.context.model, name, weight)
        scores = structure_scores(weight, self.config.group_type, self.norm, self.config.block_shape)
        if self.config.noise:
            scores = scores * (1 + self.config.noise * torch.randn_like(scores))
        return scores

    def keep_vector(self, name: str, step: PruneStep, fraction: float) -> torch.Tensor:
        return lowest_k_mask(self.scores(name, step), fraction)

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        fraction = self.fraction(step)
        leader = self.config.group_dependency == "Leader"
        shared = self.keep_vector(self.weights[0], step, fraction) if leader else None
        masks = {}
        for name in self.weights:
            keep = shared if leader else self.keep_vector(name, step, fraction)
            masks[name] = expand_structure_mask(keep, self.weight(name), self.config.group_type,
                                                self.config.block_shape)
            if self.config.group_type in ("Filters", "3D", "Rows"):
                masks.update(batchnorm_masks(self.context.model, name, keep))
            if self.config.prune_bias:
                masks.update(bias_masks(self.context.masks.params, name, keep))
        return masks

    def _check_leader_sizes(self) -> None:
        counts = {name: structure_scores(self.weight(name), self.config.group_type, "l1",
                                         self.config.block_shape).numel() for name in self.weights}
        if len(set(counts.values())) > 1:
            raise UserError("group_dependency Leader needs the same number of structures in every weight, got "
                            + ", ".join(f"{n}: {c}" for n, c in counts.items()))


class RankedStructureAGPPruner(RankedStructurePruner):
    def fraction(self, step: PruneStep) -> float:
        return agp_target(self.config.initial_sparsity, self.config.final_sparsity, step.epoch, step.due_epochs)


class L2Mixin:
    norm = "l2"


class RandomRanking:
    def scores(self, name: str, step: PruneStep) -> torch.Tensor:
        return torch.rand(structure_scores(self.weight(name), self.config.group_type, "l1",
                                           self.config.block_shape).numel())


class BernoulliKeep:
    """Each structure is dropped independently with probability equal to the sparsity."""

    def keep_vector(self, name: str, step: PruneStep, fraction: float) -> torch.Tensor:
        count = structure_scores(self.weight(name), self.config.group_type, "l1", self.config.block_shape).numel()
        keep = torch.rand(count) >= fraction
        if not keep.any():
            keep[torch.randint(count, (1,))] = True
        return keep.to(self.weight(name).device)


def _register(name: str, bases: tuple, config, description: str) -> None:
    PRUNERS.add(name, type(name, bases, {}), config, description)


_RANKED = {
    "L1RankedStructureParameterPruner": ((RankedStructurePruner,), "by mean absolute value (L1)"),
    "L2RankedStructureParameterPruner": ((L2Mixin, RankedStructurePruner), "by L2 norm"),
    "RandomRankedFilterPruner": ((RandomRanking, RankedStructurePruner), "in random order"),
    "BernoulliFilterPruner": ((BernoulliKeep, RankedStructurePruner), "each with probability = sparsity"),
}
for _name, (_bases, _how) in _RANKED.items():
    _register(_name, _bases, RankedStructureConfig, f"Remove the desired fraction of structures {_how}.")
    _register(f"{_name}_AGP", _bases[:-1] + (RankedStructureAGPPruner,), RankedStructureAGPConfig,
              f"Remove structures {_how}, raising the fraction on AGP's cubic schedule.")


@PRUNERS.register("RandomLevelStructureParameterPruner", config=RandomLevelConfig,
                  description="L1-ranked structure pruning to a level drawn uniformly from sparsity_range.")
class RandomLevelStructureParameterPruner(RankedStructurePruner):
    def fraction(self, step: PruneStep) -> float:
        low, high = self.config.sparsity_range
        return low + (high - low) * torch.rand(()).item()


_CRITERIA = {"Mean_Abs": "l1", "Max": "max", "L2": "l2"}


@PRUNERS.register("StructureParameterPruner", config=ThresholdStructureConfig,
                  description="Remove structures whose criterion (Mean_Abs, Max, L2) is at or below a threshold.")
class StructureParameterPruner(Pruner):
    def __init__(self, config: ThresholdStructureConfig, context):
        if config.threshold_criteria not in _CRITERIA:
            raise UserError(f"threshold_criteria must be one of {', '.join(_CRITERIA)} "
                            f"(got '{config.threshold_criteria}')")
        super().__init__(config, context, list(config.reg_regims))
        self.regims = dict(zip(self.weights, config.reg_regims.values()))
        for name, (_, group_type) in self.regims.items():
            check_group_type(group_type, self.weight(name), name)

    def compute_masks(self, step: PruneStep) -> Dict[str, torch.Tensor]:
        masks = {}
        for name, (threshold, group_type) in self.regims.items():
            weight = self.weight(name)
            keep = structure_scores(weight, group_type, _CRITERIA[self.config.threshold_criteria]) > threshold
            masks[name] = expand_structure_mask(keep, weight, group_type)
        return masks
