"""LAPQ's starting clips: a fixed clip mode for activations, or each tensor's clip of least Lp error.

With L1, L2 or L3 (Distiller's `--lapq-init-mode`), each weight tensor and each quantized
activation tensor gets, on its own, the clip whose quantization error mean(|x - q(x)|^p) is
least: the weights as they are, the activations as the FP32 model computes them on the
calibration images. A clip mode (NONE, AVG, GAUSS, LAPLACE) sets the activations only; the
weights then start unclipped.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
from scipy import optimize

from .lapq_clips import LOWEST_FRACTION, ClipSpace, Knob, weight_clip, with_clip
from .lapq_settings import LP_INITS
from .ptq import fold_batchnorm, record_activations, simulate
from .ranges import fake_quantize, quantization_params

SAMPLE_LIMIT = 200_000


def initial_fractions(space: ClipSpace, mode: str, images: Sequence[torch.Tensor], n_stds: float = 3.0) -> np.ndarray:
    """The clip fractions (one per knob of `space`) the search starts from."""
    if mode in LP_INITS:
        values = _lp_fractions(space, LP_INITS[mode], images)
    else:
        values = _clip_mode_fractions(space, mode, n_stds)
    return np.clip(np.array(values, dtype=float), LOWEST_FRACTION, 1.0)


def _clip_mode_fractions(space: ClipSpace, mode: str, n_stds: float) -> List[float]:
    if mode == "NONE":  # the full ranges themselves
        return [1.0] * len(space.knobs)
    config = space.config.model_copy(update={"clip_acts": mode, "clip_n_stds": space.config.clip_n_stds or n_stds})
    ranges = simulate(space.model, config, space.stats, with_clip(space.plan, mode)).ranges
    return [1.0 if knob.kind == "weights" else _fraction(knob, ranges[knob.name], space.full[knob.name])
            for knob in space.knobs]


def _fraction(knob: Knob, clipped, full) -> float:
    if knob.end == "low":
        return _ratio(clipped[0], full[0])
    if knob.end == "high":
        return _ratio(clipped[1], full[1])
    return _ratio(max(abs(clipped[0]), clipped[1]), max(abs(full[0]), full[1]))


def _ratio(part: float, whole: float) -> float:
    return 1.0 if whole == 0 else part / whole


def _lp_fractions(space: ClipSpace, p: float, images: Sequence[torch.Tensor]) -> List[float]:
    samples = tensor_samples(space, images)
    found: Dict[Knob, float] = {}
    for name in space.weights:
        found[Knob(name, "weights")] = _least([1.0], lambda x, name=name: _weight_error(space, name, x[0], p))[0]
    for name in space.full:
        knobs = [knob for knob in space.knobs if knob.kind == "activations" and knob.name == name]
        best = _least([1.0] * len(knobs), lambda x, name=name: _activation_error(space, name, samples[name], x, p))
        found.update(zip(knobs, best))
    return [found[knob] for knob in space.knobs]


def _weight_error(space: ClipSpace, name: str, fraction: float, p: float) -> float:
    weights = space.weights[name]
    layer = weights.layer
    low, high = weight_clip(weights.low, weights.high, layer.mode_weights, fraction)
    scale, zero_point = quantization_params(low, high, layer.bits_weights, layer.mode_weights)
    if layer.per_channel:
        shape = (-1,) + (1,) * (weights.folded.dim() - 1)
        scale, zero_point = scale.view(shape), zero_point.view(shape)
    quantized = fake_quantize(weights.folded, scale, zero_point, layer.bits_weights, layer.mode_weights)
    return lp_error(weights.folded, quantized, p)


def _activation_error(space: ClipSpace, name: str, values: torch.Tensor, fractions, p: float) -> float:
    tensor, (low, high) = space.tensors[name], space.full[name]
    scale, zero_point = quantization_params(low * fractions[0], high * fractions[-1], tensor.bits, tensor.mode)
    return lp_error(values, fake_quantize(values, scale, zero_point, tensor.bits, tensor.mode), p)


def lp_error(x: torch.Tensor, y: torch.Tensor, p: float) -> float:
    return torch.mean(torch.abs(x - y) ** p).item()


def _least(start: List[float], error: Callable[[np.ndarray], float]) -> np.ndarray:
    """The fractions of least `error` found by Powell from `start` (kept when nothing better is found)."""
    start_vector = np.array(start, dtype=float)
    found = optimize.minimize(error, start_vector, method="Powell", bounds=[(LOWEST_FRACTION, 1.0)] * len(start),
                              options={"xtol": 1e-3})
    return found.x if found.fun < error(start_vector) else start_vector


@torch.no_grad()
def tensor_samples(space: ClipSpace, images: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Up to SAMPLE_LIMIT values of each quantized activation tensor, as the FP32 model computes them."""
    folded, _pairs = fold_batchnorm(space.model)
    parts = record_activations(folded, space.tensors, images)
    generator = torch.Generator().manual_seed(0)
    samples = {}
    for name, values in parts.items():
        flat = torch.cat(values)
        if flat.numel() > SAMPLE_LIMIT:
            flat = flat[torch.randperm(flat.numel(), generator=generator)[:SAMPLE_LIMIT].to(flat.device)]
        samples[name] = flat
    return samples

