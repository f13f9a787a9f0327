"""Fake quantization with straight-through gradients: the arithmetic of every QAT quantizer."""
from __future__ import annotations

from typing import Tuple

import torch

_EPS = 1e-8


def ste(x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """`quantized` in the forward pass, the identity's gradient in the backward pass."""
    return x + (quantized - x).detach()


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return ste(x, torch.round(x))


def grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """`x` forward, its gradient multiplied by `scale` backward (LSQ)."""
    return (x - x * scale).detach() + x * scale


def integer_range(bits: int, mode: str) -> Tuple[int, int]:
    """(qmin, qmax) of a mode's integers."""
    half = 2 ** (bits - 1)
    if mode == "ASYMMETRIC_UNSIGNED":
        return 0, 2 ** bits - 1
    if mode == "SYMMETRIC_RESTRICTED":
        return -(half - 1), half - 1
    return -half, half - 1


def quant_params(low: torch.Tensor, high: torch.Tensor, bits: int, mode: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """(scale, zero_point) for values in [low, high]: q = round(x / scale) + zero_point (Distiller's modes)."""
    qmin, qmax = integer_range(bits, mode)
    if mode.startswith("SYMMETRIC"):
        max_abs = torch.maximum(low.abs(), high.abs())
        levels = (2 ** bits - 1) / 2 if mode == "SYMMETRIC" else float(qmax)
        return (max_abs / levels).clamp_min(_EPS), torch.zeros_like(max_abs)
    low, high = low.clamp(max=0.0), high.clamp(min=0.0)  # zero is always exactly representable
    scale = ((high - low) / (qmax - qmin)).clamp_min(_EPS)
    return scale, qmin - torch.round(low / scale)


def linear_fake_quant(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, bits: int,
                      mode: str) -> torch.Tensor:
    """Quantize-dequantize `x` (at most 2**bits values), straight-through gradient."""
    qmin, qmax = integer_range(bits, mode)
    q = torch.clamp(torch.round(x.detach() / scale) + zero_point, qmin, qmax)
    return ste(x, (q - zero_point) * scale)


def per_channel_range(weight: torch.Tensor, per_channel: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """(min, max) of the whole tensor, or of each output channel shaped to broadcast over it."""
    w = weight.detach()
    if not per_channel:
        return w.min(), w.max()
    flat = w.reshape(w.shape[0], -1)
    shape = (-1,) + (1,) * (w.dim() - 1)
    return flat.min(dim=1).values.reshape(shape), flat.max(dim=1).values.reshape(shape)


def quantize_unit(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Values in [0, 1] onto 2**bits evenly spaced levels (DoReFa's quantize_k), straight-through."""
    levels = 2 ** bits - 1
    return ste_round(x * levels) / levels


def dorefa_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """tanh-normalize to [0, 1], quantize to `bits`, map to [-1, 1] (Zhou et al.)."""
    t = torch.tanh(weight)
    unit = t / (2 * t.abs().max().detach().clamp_min(_EPS)) + 0.5
    return 2 * quantize_unit(unit, bits) - 1


def wrpn_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Clamp to [-1, 1] and quantize symmetrically with bits - 1 magnitude bits (Mishra et al.)."""
    levels = 2 ** (bits - 1) - 1
    return ste_round(torch.clamp(weight, -1.0, 1.0) * levels) / levels


def clipped_unit_activation(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Clamp to [0, 1] and quantize to `bits` (DoReFa's and WRPN's activations)."""
    return quantize_unit(torch.clamp(x, 0.0, 1.0), bits)


def pact_activation(x: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """Clip to [0, alpha] with a learned alpha, quantize in that range (Choi et al.)."""
    clipped = torch.minimum(torch.relu(x), alpha)
    scale = alpha.detach().clamp_min(_EPS) / (2 ** bits - 1)
    return ste(clipped, torch.round(clipped.detach() / scale) * scale)


def lsq_quant(x: torch.Tensor, step: torch.Tensor, qmin: int, qmax: int, count: int) -> torch.Tensor:
    """Learned step size quantization (Esser et al.): step's gradient scaled by 1 / sqrt(count * qmax)."""
    step = grad_scale(step, 1.0 / (max(count, 1) * max(qmax, 1)) ** 0.5)
    return ste_round(torch.clamp(x / step, qmin, qmax)) * step


def lsq_initial_step(x: torch.Tensor, qmax: int, per_channel: bool = False) -> torch.Tensor:
    """2 * mean(|x|) / sqrt(qmax), per tensor or per output channel."""
    x = x.detach().abs()
    mean = x.reshape(x.shape[0], -1).mean(dim=1).reshape((-1,) + (1,) * (x.dim() - 1)) if per_channel else x.mean()
    return (2 * mean / max(qmax, 1) ** 0.5).clamp_min(_EPS)


def exact_ste(x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """`quantized` exactly in the forward pass (no rounding of x + (q - x)), x's gradient in the backward pass."""
    return quantized + (x - x.detach())


def binary_weight(weight: torch.Tensor) -> torch.Tensor:
    """sign(w) times the mean |w| of each output channel: BWN (Rastegari et al., XNOR-Net).

    Two values per output channel, +-scale; exact zeros (pruned weights) stay 0 and are left out
    of the mean. Backward, the sign is straight-through where |w| <= 1 and cancels the gradient
    where |w| > 1 (Hubara et al.); the scale's gradient follows the chain rule.
    """
    shape = (-1,) + (1,) * (weight.dim() - 1)
    flat = weight.reshape(weight.shape[0], -1)
    kept = torch.count_nonzero(flat.detach(), dim=1).clamp_min(1)
    scale = (flat.abs().sum(dim=1) / kept).reshape(shape)
    return scale * exact_ste(torch.clamp(weight, -1.0, 1.0), torch.sign(weight.detach()))


def binary_activation(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """{0, alpha}: alpha where x > alpha / 2, else 0; the gradient of clamp(x, 0, alpha) backward."""
    alpha = alpha.detach().to(x.dtype)
    clipped = torch.minimum(torch.relu(x), alpha)
    return exact_ste(clipped, torch.where(x.detach() > alpha / 2, alpha, torch.zeros_like(alpha)))


def binary_level(x: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """The alpha of {0, alpha} nearest to x in L2: Lloyd's iterations (alpha = the mean of x above alpha / 2)
    from 2 mean(x); for a half-normal x, 1.2 sigma."""
    x = x.detach().float()
    alpha = 2 * x.mean()
    for _ in range(iterations):
        above = x > alpha / 2
        count = above.sum()
        alpha = torch.where(count > 0, (x * above).sum() / count.clamp_min(1), alpha)
    return alpha.clamp_min(_EPS)
