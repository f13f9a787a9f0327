"""Range-linear quantization parameters (Distiller's convention) and clipping of activation ranges.

Distiller's scale multiplies: q = round(scale * x - zero_point), x ~ (q + zero_point) / scale.
"""
from __future__ import annotations

from typing import Tuple

import torch

MODES = ("SYMMETRIC", "SYMMETRIC_RESTRICTED", "ASYMMETRIC_UNSIGNED", "ASYMMETRIC_SIGNED")
CLIP_MODES = ("NONE", "AVG", "N_STD", "GAUSS", "LAPLACE", "MSE", "PERCENTILE", "KL")

# Optimal clipping value / std (Gaussian) or / b (Laplace) per bit width (Banner et al., ACIQ),
# the table Distiller uses.
_ACIQ_GAUSS = {2: 1.71, 3: 2.15, 4: 2.55, 5: 2.94, 6: 3.29, 7: 3.61, 8: 3.92}
_ACIQ_LAPLACE = {2: 2.83, 3: 3.89, 4: 5.03, 5: 6.2, 6: 7.41, 7: 8.64, 8: 9.89}


def quantization_params(low, high, bits: int, mode: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """(scale, zero_point) for a range [low, high] (tensors for per-channel ranges)."""
    low = torch.as_tensor(low, dtype=torch.float64).clamp(max=0)
    high = torch.as_tensor(high, dtype=torch.float64).clamp(min=0)
    if mode.startswith("SYMMETRIC"):
        levels = 2 ** (bits - 1) - 1 if mode == "SYMMETRIC_RESTRICTED" else (2 ** bits - 1) / 2
        saturation = torch.maximum(low.abs(), high).clamp(min=1e-12)
        return (levels / saturation).float(), torch.zeros_like(saturation).float()
    scale = (2 ** bits - 1) / (high - low).clamp(min=1e-12)
    zero_point = torch.round(scale * low)
    if mode == "ASYMMETRIC_SIGNED":
        zero_point = zero_point + 2 ** (bits - 1)
    return scale.float(), zero_point.float()


def integer_range(bits: int, mode: str) -> Tuple[int, int]:
    if mode == "ASYMMETRIC_UNSIGNED":
        return 0, 2 ** bits - 1
    if mode == "SYMMETRIC_RESTRICTED":
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, bits: int, mode: str) -> torch.Tensor:
    """Quantize then dequantize with Distiller's convention."""
    low, high = integer_range(bits, mode)
    if mode == "SYMMETRIC":  # full range: levels on either side of zero, half-integers allowed
        q = torch.clamp(torch.round(scale * x), -(2 ** bits - 1) / 2, (2 ** bits - 1) / 2)
        return q / scale
    q = torch.clamp(torch.round(scale * x - zero_point), low, high)
    return (q + zero_point) / scale


def clipped_range(stats, mode: str, bits: int, n_stds: float = None, half_range: bool = False) -> Tuple[float, float]:
    """The activation range to quantize, from Distiller-format statistics of a tensor."""
    low, high = stats.min, stats.max
    if mode == "AVG":
        low, high = stats.avg_min, stats.avg_max
    elif mode == "N_STD":
        low, high = max(low, stats.mean - n_stds * stats.std), min(high, stats.mean + n_stds * stats.std)
    elif mode in ("GAUSS", "LAPLACE"):
        table, spread = (_ACIQ_GAUSS, stats.std) if mode == "GAUSS" else (_ACIQ_LAPLACE, stats.b)
        alpha = table[min(max(bits, 2), 8)] * spread
        low, high = max(low, stats.mean - alpha), min(high, stats.mean + alpha)
    if half_range or stats.min >= 0:
        low = max(low, 0.0)
    return float(low), float(high)


def histogram_clip(values: torch.Tensor, mode: str, bits: int, percentile: float = 99.99) -> Tuple[float, float]:
    """Clip by the calibration data itself: PERCENTILE, MSE (least quantization error) or KL (entropy)."""
    values = values.detach().flatten().float()
    low, high = values.min().item(), values.max().item()
    if mode == "PERCENTILE":
        q = torch.quantile(_sample(values), torch.tensor([1 - percentile / 100, percentile / 100]))
        return min(q[0].item(), 0.0) if low < 0 else 0.0, q[1].item()
    candidates = [high * f for f in torch.linspace(0.2, 1.0, 33).tolist()]
    score = _mse if mode == "MSE" else _kl
    best = min(candidates, key=lambda top: score(values, top, low, bits))
    return (max(low, -best) if low < 0 else 0.0), best


def _sample(values: torch.Tensor, limit: int = 1_000_000) -> torch.Tensor:
    if values.numel() <= limit:
        return values
    return values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))[:limit]]


def _quantized(values: torch.Tensor, top: float, low: float, bits: int) -> torch.Tensor:
    mode = "SYMMETRIC" if low < 0 else "ASYMMETRIC_UNSIGNED"
    scale, zero_point = quantization_params(max(low, -top) if low < 0 else 0.0, top, bits, mode)
    return fake_quantize(values, scale, zero_point, bits, mode)


def _mse(values: torch.Tensor, top: float, low: float, bits: int) -> float:
    values = _sample(values)
    return torch.mean((values - _quantized(values, top, low, bits)) ** 2).item()


def _kl(values: torch.Tensor, top: float, low: float, bits: int, bins: int = 512) -> float:
    """KL divergence between the histograms of the data and of its quantized version."""
    values = _sample(values)
    edges = (values.min().item(), values.max().item())
    p = torch.histc(values, bins, *edges) + 1e-8
    q = torch.histc(_quantized(values, top, low, bits), bins, *edges) + 1e-8
    p, q = p / p.sum(), q / q.sum()
    return torch.sum(p * torch.log(p / q)).item()


def weight_range(weight: torch.Tensor, per_channel: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    detached = weight.detach()
    if per_channel:
        flat = detached.flatten(1)
        return flat.min(dim=1).values, flat.max(dim=1).values
    return detached.min(), detached.max()


__all__ = ["CLIP_MODES", "MODES", "clipped_range", "fake_quantize", "histogram_clip", "integer_range",
           "quantization_params", "weight_range"]
