"""The clipping values LAPQ searches, and how a choice of them reaches the simulated and the int8 model.

Each layer with quantized weights has one weight clip; each activation tensor the simulated
model quantizes (outputs, and inputs no operation before quantized) has one clip (its range
scaled down as a whole: symmetric modes, ranges starting at 0) or two (asymmetric modes with
negative values: the low and the high end apart). Every clip is a fraction of that tensor's
full range, so all search variables live in (0, 1] whatever the layer's scale.

Activation clips go to `simulate` as ranges by tensor name. Weight clips clamp the weights
in the BatchNorm-folded space (then unfolded), so folding them again, in the simulated or the
int8 model, gives exactly the clipped weights and a quantization step set by the clip.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .activation_plan import TensorPlan
from ..pruning.batchnorm import following_batchnorm
from .ptq import LayerQuant, Plan, simulate
from .ptq_config import PostTrainConfig
from .ranges import weight_range

LOWEST_FRACTION = 0.01
Range = Tuple[float, float]


@dataclass(frozen=True)
class Knob:
    """One search variable: the weight clip of a layer, or an end ('both', 'low', 'high') of a tensor's clip."""

    name: str   # layer (weights) or quantized tensor (activations), as linear_quant_params name it
    kind: str   # "weights" or "activations"
    end: str = "both"


@dataclass
class _Weights:
    name: str
    folded: torch.Tensor              # the weight as quantized (BatchNorm folded in)
    bn_scale: Optional[torch.Tensor]  # gamma / sqrt(var + eps) per filter; None without a BatchNorm
    low: torch.Tensor
    high: torch.Tensor
    layer: LayerQuant


def with_clip(plan: Plan, clip: str) -> Plan:
    return {name: None if layer is None else replace(layer, clip=clip) for name, layer in plan.items()}


class ClipSpace:
    """The searchable clips of `model` quantized as `config` and `plan` say, from `stats`."""

    def __init__(self, model: nn.Module, config: PostTrainConfig, stats: Dict, plan: Plan):
        self.model, self.config, self.stats = model, config.model_copy(update={"clip_acts": "NONE"}), stats
        self.plan = with_clip(plan, "NONE")
        base = simulate(model, self.config, stats, self.plan)
        self.tensors: Dict[str, TensorPlan] = {tensor.name: tensor for tensor in base.layout.tensors}
        self.full: Dict[str, Range] = dict(base.ranges)
        self.weights = {name: _weights(model, name, layer) for name, layer in plan.items()
                        if layer is not None and layer.has_weights and layer.bits_weights is not None}
        self.knobs = [Knob(name, "weights") for name in self.weights] + self._activation_knobs()
        self._work = copy.deepcopy(model)

    def _activation_knobs(self) -> List[Knob]:
        knobs = []
        for name, (low, _high) in self.full.items():
            if self.tensors[name].mode.startswith("ASYMMETRIC") and low < 0:
                knobs += [Knob(name, "activations", "low"), Knob(name, "activations", "high")]
            else:
                knobs.append(Knob(name, "activations"))
        return knobs

    def simulate(self, fractions: Sequence[float]):
        """The simulated model with these clips."""
        return simulate(self.model_for(fractions), self.config, self.stats, self.plan,
                        ranges=self.activation_ranges(fractions))

    @torch.no_grad()
    def model_for(self, fractions: Sequence[float]) -> nn.Module:
        """The model with each layer's weights clamped to its clip (the same object at each call)."""
        for knob, fraction in zip(self.knobs, fractions):
            if knob.kind == "weights":
                self._work.get_submodule(knob.name).weight.copy_(self._clamped(self.weights[knob.name], fraction))
        return self._work

    def _clamped(self, weights: _Weights, fraction: float) -> torch.Tensor:
        low, high = weight_clip(weights.low, weights.high, weights.layer.mode_weights, float(fraction))
        shape = (-1,) + (1,) * (weights.folded.dim() - 1)
        if weights.layer.per_channel:
            low, high = low.view(shape), high.view(shape)
        clamped = torch.maximum(torch.minimum(weights.folded, high), low)
        if weights.bn_scale is None:
            return clamped
        scale = weights.bn_scale.view(shape)
        original = self.model.get_submodule(weights.name).weight
        return torch.where(scale != 0, clamped / torch.where(scale != 0, scale, 1.0), original)

    def activation_ranges(self, fractions: Sequence[float]) -> Dict[str, Range]:
        ranges = {name: list(bounds) for name, bounds in self.full.items()}
        for knob, fraction in zip(self.knobs, fractions):
            if knob.kind == "activations":
                low, high = self.full[knob.name]
                if knob.end in ("both", "low"):
                    ranges[knob.name][0] = low * float(fraction)
                if knob.end in ("both", "high"):
                    ranges[knob.name][1] = high * float(fraction)
        return {name: (low, high) for name, (low, high) in ranges.items()}

    def weight_fractions(self, fractions: Sequence[float]) -> Dict[str, float]:
        return {knob.name: float(f) for knob, f in zip(self.knobs, fractions) if knob.kind == "weights"}


@torch.no_grad()
def _weights(model: nn.Module, name: str, layer: LayerQuant) -> _Weights:
    """The layer's weight as `fold_batchnorm` folds it (the same BatchNorm, the same arithmetic)."""
    module = model.get_submodule(name)
    found = following_batchnorm(model, name) if isinstance(module, nn.Conv2d) else None
    weight, scale = module.weight.detach().clone(), None
    if found is not None:
        bn = found[1]
        gamma = bn.weight.detach() if bn.weight is not None else torch.ones_like(bn.running_var)
        scale = gamma * torch.rsqrt(bn.running_var + bn.eps)
        weight = weight * scale.reshape((-1,) + (1,) * (weight.dim() - 1))
    low, high = weight_range(weight, layer.per_channel)
    return _Weights(name, weight, scale, low, high, layer)


def weight_clip(low: torch.Tensor, high: torch.Tensor, mode: str, fraction: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """The clipped weight range: [-c, c] in symmetric modes (c: the larger end scaled), else both ends scaled."""
    if mode.startswith("SYMMETRIC"):
        saturation = torch.maximum(low.abs(), high) * fraction
        return -saturation, saturation
    return low * fraction, high * fraction
