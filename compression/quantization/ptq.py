"""Post-training range-linear quantization from activation statistics, simulated in FP32.

Each Conv/Linear layer gets its weights quantized (per tensor or per output channel) and its
input and output activations quantized with ranges from the statistics file, clipped as the
layer's clip mode says. BatchNorm is folded into the convolution before (its output
statistics then serve as the convolution's). The result evaluates like the deployed model
would and yields Distiller's `linear_quant_params`.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..core.errors import UserError
from ..pruning.batchnorm import following_batchnorm
from ..sparsity import PRUNABLE_TYPES
from .ptq_config import LayerSettings, ModeMapping, PostTrainConfig
from .ranges import clipped_range, fake_quantize, histogram_clip, quantization_params, weight_range

HISTOGRAM_CLIPS = ("MSE", "PERCENTILE", "KL")


@dataclass(frozen=True)
class LayerQuant:
    bits_activations: int
    bits_weights: int
    mode_activations: str
    mode_weights: str
    clip: str
    per_channel: bool


def layer_plan(config: PostTrainConfig, model: nn.Module) -> Dict[str, Optional[LayerQuant]]:
    """Settings per Conv/Linear layer after the ordered `overrides` (None = stays FP32)."""
    layers = [name for name, module in model.named_modules() if isinstance(module, PRUNABLE_TYPES)]
    _check_overrides(config, model)
    base = LayerQuant(config.bits_activations, config.bits_parameters, *_modes(config.mode),
                      config.clip_acts, config.per_channel_wts)
    plan = {}
    for name in layers:
        pattern = next((p for p in config.overrides if _matches(p, name)), None)
        plan[name] = base if pattern is None else _apply(base, config.overrides[pattern])
    return plan


def _check_overrides(config: PostTrainConfig, model: nn.Module) -> None:
    names = [name for name, _ in model.named_modules() if name]
    for pattern in config.overrides:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise UserError(f"overrides: '{pattern}' is not a valid regex: {err}") from None
        if not any(_matches(regex, n) for n in names):
            raise UserError(f"overrides: '{pattern}' matches no module of the model (modules: {', '.join(names)})")


def _matches(pattern, name: str) -> bool:
    """Distiller's rule: the regex matches the whole module name ('module.' prefix optional)."""
    return bool(re.fullmatch(pattern, name) or re.fullmatch(pattern, f"module.{name}"))


def _modes(mode) -> Tuple[str, str]:
    if isinstance(mode, ModeMapping):
        return mode.activations, mode.weights
    return mode, mode


def _apply(base: LayerQuant, settings: Optional[LayerSettings]) -> Optional[LayerQuant]:
    if settings is None:
        return None
    updates = {}
    if settings.bits_activations is not None:
        updates["bits_activations"] = settings.bits_activations
    bits_weights = settings.bits_parameters or settings.bits_weights
    if bits_weights is not None:
        updates["bits_weights"] = bits_weights
    if settings.mode is not None:
        updates["mode_activations"], updates["mode_weights"] = _modes(settings.mode)
    if settings.clip_acts is not None:
        updates["clip"] = settings.clip_acts
    if settings.per_channel_wts is not None:
        updates["per_channel"] = settings.per_channel_wts
    return replace(base, **updates)


@dataclass
class SimulatedModel:
    model: nn.Module
    params: Dict[str, object]            # linear_quant_params
    output_ranges: Dict[str, Tuple[float, float]]


def fold_batchnorm(model: nn.Module) -> Tuple[nn.Module, Dict[str, str]]:
    """A copy with each Conv2d's following BatchNorm folded in; returns {conv: folded bn name}."""
    folded = copy.deepcopy(model).eval()
    pairs = {}
    for name, module in list(folded.named_modules()):
        if isinstance(module, nn.Conv2d):
            found = following_batchnorm(folded, name)
            if found is not None:
                pairs[name] = found[0]
    for conv_name, bn_name in pairs.items():
        conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
        _set_module(folded, conv_name, fuse_conv_bn_eval(conv, bn))
        _set_module(folded, bn_name, nn.Identity())
    return folded, pairs


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def simulate(model: nn.Module, config: PostTrainConfig, stats: Dict, plan: Dict[str, Optional[LayerQuant]],
             calibration: Optional[Iterable[torch.Tensor]] = None) -> SimulatedModel:
    """An FP32 copy that computes as the range-linear quantized model would."""
    folded, pairs = fold_batchnorm(model)
    observed = _histogram_inputs(folded, plan, calibration)
    params: Dict[str, object] = {}
    ranges: Dict[str, Tuple[float, float]] = {}
    for name, layer in plan.items():
        if layer is None:
            continue
        module = folded.get_submodule(name)
        _quantize_weight(module, layer, name, params)
        out_stats = stats[pairs.get(name, name)].output
        low, high = _activation_range(out_stats, layer, config, observed.get(name))
        ranges[name] = (low, high)
        in_stats = stats[name].inputs.get(0)
        _hook_activations(module, layer, (low, high), in_stats, config, name, params)
    return SimulatedModel(folded, params, ranges)


def _activation_range(tensor_stats, layer: LayerQuant, config: PostTrainConfig, values) -> Tuple[float, float]:
    if layer.clip in HISTOGRAM_CLIPS:
        return histogram_clip(values, layer.clip, layer.bits_activations)
    return clipped_range(tensor_stats, layer.clip, layer.bits_activations, config.clip_n_stds, config.clip_half_range)


@torch.no_grad()
def _quantize_weight(module: nn.Module, layer: LayerQuant, name: str, params: Dict[str, object]) -> None:
    low, high = weight_range(module.weight, layer.per_channel)
    scale, zero_point = quantization_params(low, high, layer.bits_weights, layer.mode_weights)
    shape = (-1,) + (1,) * (module.weight.dim() - 1)
    view = (lambda t: t.view(shape)) if layer.per_channel else (lambda t: t)
    module.weight.copy_(fake_quantize(module.weight, view(scale), view(zero_point), layer.bits_weights,
                                      layer.mode_weights))
    params[f"{name}.w_scale"] = scale.tolist()
    params[f"{name}.w_zero_point"] = zero_point.tolist()


def _hook_activations(module, layer: LayerQuant, out_range, in_stats, config, name, params) -> None:
    bits, mode = layer.bits_activations, layer.mode_activations
    out_scale, out_zp = quantization_params(*out_range, bits, mode)
    params[f"{name}.output_scale"] = out_scale.item()
    params[f"{name}.output_zero_point"] = out_zp.item()
    in_q = None
    if in_stats is not None:
        in_range = clipped_range(in_stats, "NONE", bits)
        in_q = quantization_params(*in_range, bits, mode)
        params[f"{name}.inputs.0.scale"] = in_q[0].item()
        params[f"{name}.inputs.0.zero_point"] = in_q[1].item()

    def before(_module, inputs):
        if in_q is None:
            return None
        return (fake_quantize(inputs[0], in_q[0], in_q[1], bits, mode),) + tuple(inputs[1:])

    def after(_module, _inputs, output):
        return fake_quantize(output, out_scale, out_zp, bits, mode)

    module.register_forward_pre_hook(before)
    module.register_forward_hook(after)


@torch.no_grad()
def _histogram_inputs(model: nn.Module, plan, calibration) -> Dict[str, torch.Tensor]:
    """Output samples of the layers whose clip mode looks at the data itself."""
    names = [name for name, layer in plan.items() if layer is not None and layer.clip in HISTOGRAM_CLIPS]
    if not names:
        return {}
    if calibration is None:
        raise UserError("clip modes MSE, PERCENTILE and KL need calibration data")
    samples: Dict[str, List[torch.Tensor]] = {name: [] for name in names}
    handles = [model.get_submodule(name).register_forward_hook(
        lambda _m, _i, out, name=name: samples[name].append(out.detach().flatten()[::7].cpu())) for name in names]
    try:
        for images in calibration:
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.cat(values) for name, values in samples.items()}


def int8_deployable(plan: Dict[str, Optional[LayerQuant]]) -> bool:
    """Whether every quantized layer has 8-bit weights and activations (what real int8 kernels run)."""
    return all(layer is None or (layer.bits_activations == 8 and layer.bits_weights == 8) for layer in plan.values())


def module_output_ranges(model: nn.Module, config: PostTrainConfig, stats: Dict) -> Dict[str, Tuple[float, float]]:
    """Output ranges of every module the stats describe (BatchNorm, ReLU, pooling...), clipped alike."""
    clip = "NONE" if config.clip_acts in HISTOGRAM_CLIPS else config.clip_acts
    names = {name for name, _ in model.named_modules() if name}
    return {name: clipped_range(module_stats.output, clip, config.bits_activations, config.clip_n_stds,
                                config.clip_half_range)
            for name, module_stats in stats.items() if name in names}
