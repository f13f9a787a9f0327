"""What each QAT method does to one weight or one activation tensor, with the state it keeps on its module.

Each is called as `fn(module, tensor)`; `setup(module, device)` registers its `qat_` state and returns
the parameters to train; an activation quantizer's `value_range(module)` is the (min, max) it covers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import nn

from ...distributed import mean_across_ranks
from . import fake_quant as fq
from .layers import PREFIX, new_buffer, new_parameter


@dataclass(frozen=True)
class TensorQuantizer:
    bits: int

    def setup(self, module: nn.Module, device: torch.device) -> List[nn.Parameter]:
        return []

    def __call__(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


# --- range-linear (Distiller's QuantAwareTrainRangeLinearQuantizer) -------------------------------

@dataclass(frozen=True)
class RangeLinearWeight(TensorQuantizer):
    """Scale and zero-point from the tensor's current min/max (per tensor or per output channel)."""

    mode: str = "SYMMETRIC"
    per_channel: bool = False

    def __call__(self, module, x):
        low, high = fq.per_channel_range(x, self.per_channel and x.dim() > 1)
        scale, zero_point = fq.quant_params(low, high, self.bits, self.mode)
        return fq.linear_fake_quant(x, scale, zero_point, self.bits, self.mode)


@dataclass(frozen=True)
class EMAActivation(TensorQuantizer):
    """Range from a bias-corrected moving average of batch min/max, updated while training."""

    mode: str = "SYMMETRIC"
    decay: float = 0.999
    name: str = "out"

    def setup(self, module, device):
        for stat in ("ema_min", "ema_max", "ema_steps"):
            new_buffer(module, f"{self.name}_{stat}", torch.zeros((), device=device))
        return []

    def _buffer(self, module, stat: str) -> torch.Tensor:
        return getattr(module, f"{PREFIX}{self.name}_{stat}")

    @torch.no_grad()
    def _update(self, module, x: torch.Tensor) -> None:
        steps = self._buffer(module, "ema_steps")
        steps.add_(1)
        for stat, value in (("ema_min", x.min()), ("ema_max", x.max())):
            self._buffer(module, stat).mul_(self.decay).add_(value.to(torch.float32), alpha=1 - self.decay)

    def _corrected(self, module) -> Tuple[torch.Tensor, torch.Tensor]:
        steps = self._buffer(module, "ema_steps")
        correction = (1 - self.decay ** steps).clamp_min(1e-12)
        return self._buffer(module, "ema_min") / correction, self._buffer(module, "ema_max") / correction

    def value_range(self, module) -> Tuple[float, float]:
        low, high = self._corrected(module)
        return low.item(), high.item()

    def __call__(self, module, x):
        if module.training:
            self._update(module, x.detach())
        low, high = self._corrected(module)
        seen = self._buffer(module, "ema_steps") > 0  # evaluated before any training step: the batch's own
        low = torch.where(seen, low, x.detach().min().float())
        high = torch.where(seen, high, x.detach().max().float())
        scale, zero_point = fq.quant_params(low, high, self.bits, self.mode)
        return fq.linear_fake_quant(x, scale, zero_point, self.bits, self.mode)


# --- DoReFa, WRPN, PACT ------------------------------------------------------------------------

@dataclass(frozen=True)
class DorefaWeight(TensorQuantizer):
    def __call__(self, module, x):
        return fq.dorefa_weight(x, self.bits)


@dataclass(frozen=True)
class WRPNWeight(TensorQuantizer):
    def __call__(self, module, x):
        return fq.wrpn_weight(x, self.bits)


@dataclass(frozen=True)
class ClippedUnitActivation(TensorQuantizer):
    """Clamp to [0, 1], quantize (DoReFa's and WRPN's activations)."""

    def value_range(self, module) -> Tuple[float, float]:
        return 0.0, 1.0

    def __call__(self, module, x):
        return fq.clipped_unit_activation(x, self.bits)


@dataclass(frozen=True)
class PACTActivation(TensorQuantizer):
    """Clip to [0, alpha] with alpha learned per layer, quantize in that range."""

    init_value: float = 8.0

    def setup(self, module, device):
        return [new_parameter(module, "clip_val", torch.tensor(self.init_value, device=device))]

    def value_range(self, module) -> Tuple[float, float]:
        return 0.0, module.qat_clip_val.item()

    def __call__(self, module, x):
        return fq.pact_activation(x, module.qat_clip_val, self.bits)


# --- LSQ -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LSQTensor(TensorQuantizer):
    """A learned step size, initialised from the first tensor it sees: 2 * mean|x| / sqrt(Qp)."""

    signed: bool = True
    per_channel: bool = False
    name: str = "weight"

    @property
    def qrange(self) -> Tuple[int, int]:
        if self.signed:
            return -2 ** (self.bits - 1), 2 ** (self.bits - 1) - 1
        return 0, 2 ** self.bits - 1

    def setup(self, module, device):
        shape = (module.weight.shape[0],) + (1,) * (module.weight.dim() - 1) if self.per_channel else ()
        new_buffer(module, f"{self.name}_step_ready", torch.zeros((), dtype=torch.bool, device=device))
        return [new_parameter(module, f"{self.name}_step", torch.ones(shape, device=device))]

    def value_range(self, module) -> Tuple[float, float]:
        step = getattr(module, f"{PREFIX}{self.name}_step").detach().max().item()
        qmin, qmax = self.qrange
        return qmin * step, qmax * step

    def __call__(self, module, x):
        step = getattr(module, f"{PREFIX}{self.name}_step")
        ready = getattr(module, f"{PREFIX}{self.name}_step_ready")
        qmin, qmax = self.qrange
        if not ready.item():
            with torch.no_grad():
                # Under torchrun each process sees other images: all start from the same step.
                step.copy_(mean_across_ranks(fq.lsq_initial_step(x, qmax, self.per_channel)))
                ready.fill_(True)
        count = x.numel() if self.name == "weight" else x[0].numel()
        return fq.lsq_quant(x, step, qmin, qmax, count)


# --- binary (BWN / XNOR-Net) -----------------------------------------------------------------------

@dataclass(frozen=True)
class BinaryWeight(TensorQuantizer):
    """sign(w) times the mean |w| of its output channel: every quantizer's 1-bit weights."""

    bits: int = 1

    def __call__(self, module, x):
        return fq.binary_weight(x)


@dataclass(frozen=True)
class BinaryActivation(TensorQuantizer):
    """{0, alpha} with alpha a bias-corrected moving average of each training batch's L2-nearest level."""

    bits: int = 1
    decay: float = 0.99
    name: str = "out"

    def setup(self, module, device):
        for stat in ("level_ema", "level_steps"):
            new_buffer(module, f"{self.name}_{stat}", torch.zeros((), device=device))
        return []

    def _buffer(self, module, stat: str) -> torch.Tensor:
        return getattr(module, f"{PREFIX}{self.name}_{stat}")

    def _level(self, module) -> torch.Tensor:
        correction = (1 - self.decay ** self._buffer(module, "level_steps")).clamp_min(1e-12)
        return self._buffer(module, "level_ema") / correction

    def value_range(self, module) -> Tuple[float, float]:
        return 0.0, self._level(module).item()

    def __call__(self, module, x):
        steps = self._buffer(module, "level_steps")
        if module.training:
            with torch.no_grad():
                steps.add_(1)
                self._buffer(module, "level_ema").mul_(self.decay).add_(fq.binary_level(x), alpha=1 - self.decay)
        alpha = torch.where(steps > 0, self._level(module), fq.binary_level(x))  # untrained: the batch's own
        return fq.binary_activation(x, alpha)
