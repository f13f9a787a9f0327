"""Post-training range-linear quantization from activation statistics, simulated in FP32.

Each Conv/Linear layer gets its weights quantized (per tensor or per output channel); every
operation whose activations are quantized (Conv/Linear, ReLU, pooling, a ResNet block's add)
gets its output quantized with the range of its statistics, clipped as its clip mode says, and
its inputs as Distiller's rules say (activation_plan.py). BatchNorm is folded into the
convolution before (its output statistics then serve as the convolution's), timm's
BatchNormAct2d too once split into BatchNorm and activation (norm_act.py). Settings come from
the quantizer's arguments and its ordered `overrides`, matched against Distiller's names of the
operations (distiller_names.py). The result evaluates like the deployed model would and yields
Distiller's `linear_quant_params`.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..core.errors import UserError
from ..pruning.batchnorm import following_batchnorm
from ..sparsity import PRUNABLE_TYPES
from .activation_plan import ActivationLayout, TensorPlan, activation_layout
from .call_hooks import CallHooks
from .distiller_names import ModelGraph, deciding_override, model_graph, name_matches
from .norm_act import with_norm_acts_split
from .ptq_config import InputSettings, LayerSettings, ModeMapping, PostTrainConfig
from .ranges import clipped_range, fake_quantize, histogram_clip, quantization_params, weight_range

HISTOGRAM_CLIPS = ("MSE", "PERCENTILE", "KL")


@dataclass(frozen=True)
class LayerQuant:
    """How one operation is quantized; a bits field of None leaves that kind of tensor in FP32."""

    bits_activations: Optional[int]
    bits_weights: Optional[int]
    mode_activations: str
    mode_weights: str
    clip: str
    per_channel: bool
    clip_n_stds: Optional[float] = None
    quantize_inputs: Optional[bool] = None
    input_overrides: Mapping[int, InputSettings] = field(default_factory=dict)
    has_weights: bool = True


Plan = Dict[str, Optional[LayerQuant]]


def layer_plan(config: PostTrainConfig, model: nn.Module, graph: Optional[ModelGraph] = None) -> Plan:
    """Settings per Conv/Linear layer after the ordered `overrides` (None = stays FP32)."""
    graph = graph or model_graph(model)
    _check_overrides(config, model, graph)
    plan = {}
    for name, module in model.named_modules():
        if isinstance(module, PRUNABLE_TYPES):
            layer = _settings(config, [name], True)
            plan[name] = layer if layer.bits_activations or layer.bits_weights else None
    return plan


def operation_plan(config: PostTrainConfig, model: nn.Module, graph: ModelGraph, layers: Plan) -> Plan:
    """`layers` plus the settings of every weightless operation (ReLU, pooling, a ResNet block's add...)."""
    plan = dict(layers)
    modules = dict(model.named_modules())
    for op in graph.operations:
        if op.name in plan or isinstance(modules.get(op.module or ""), PRUNABLE_TYPES):
            continue
        layer = _settings(config, [op.name, op.module], False)
        plan[op.name] = layer if layer.bits_activations else None
    return plan


def _settings(config: PostTrainConfig, names, has_weights: bool) -> LayerQuant:
    base = LayerQuant(config.bits_activations, config.bits_parameters if has_weights else None, *_modes(config.mode),
                      config.clip_acts, config.per_channel_wts, config.clip_n_stds, has_weights=has_weights)
    pattern = deciding_override(config.overrides, names)
    if pattern is None:
        return base
    settings = config.overrides[pattern]
    if settings is None:
        return replace(base, bits_activations=None, bits_weights=None)
    return _apply(base, settings)


def _check_overrides(config: PostTrainConfig, model: nn.Module, graph: ModelGraph) -> None:
    names = [name for name, _ in model.named_modules() if name]
    names += sorted(graph.names() - set(names))
    for pattern in config.overrides:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise UserError(f"{config.where('overrides', pattern)}: '{pattern}' is not a valid regex: {err}") from None
        if not any(name_matches(regex, n) for n in names):
            raise UserError(f"{config.where('overrides', pattern)}: '{pattern}' matches no module or operation of "
                            f"the model (names: {', '.join(names)})")


def _modes(mode) -> Tuple[str, str]:
    if isinstance(mode, ModeMapping):
        return mode.activations, mode.weights
    return mode, mode


def _apply(base: LayerQuant, settings: LayerSettings) -> LayerQuant:
    updates: Dict[str, object] = {}
    if settings.given("bits_activations"):
        updates["bits_activations"] = settings.bits_activations
    for key in ("bits_parameters", "bits_weights"):  # Distiller writes bits_weights in overrides
        if settings.given(key) and base.has_weights:
            updates["bits_weights"] = getattr(settings, key)
    if settings.mode is not None:
        updates["mode_activations"], updates["mode_weights"] = _modes(settings.mode)
    for key, field_name in (("clip_acts", "clip"), ("per_channel_wts", "per_channel"), ("clip_n_stds", "clip_n_stds"),
                            ("quantize_inputs", "quantize_inputs")):
        if getattr(settings, key) is not None:
            updates[field_name] = getattr(settings, key)
    if settings.input_overrides:
        updates["input_overrides"] = dict(settings.input_overrides)
    return replace(base, **updates)


@dataclass
class SimulatedModel:
    model: nn.Module
    params: Dict[str, object]            # linear_quant_params
    plan: Plan                           # every operation's settings (None: FP32)
    layout: ActivationLayout             # the tensors quantized, where, and what the int8 model needs
    ranges: Dict[str, Tuple[float, float]] = field(default_factory=dict)  # tensor name -> range used

    @property
    def int8_ranges(self) -> Dict[str, Tuple[float, float]]:
        """Range of each quantized output, by the name of the operation producing it in the (unfolded) model."""
        return {tensor.int8_name: self.ranges[tensor.name] for tensor in self.layout.tensors if tensor.int8_name}

    @property
    def input_range(self) -> Optional[Tuple[float, float]]:
        """The range the model's input is quantized with, when an operation quantizes it."""
        return next((self.ranges[t.name] for t in self.layout.tensors if t.model_input), None)


def fold_batchnorm(model: nn.Module) -> Tuple[nn.Module, Dict[str, str]]:
    """A copy with each Conv2d's following BatchNorm folded in; returns {conv: folded bn name}.

    timm's BatchNormAct2d is split first (norm_act.py): its BatchNorm `bn1.bn` folds like any other,
    its activation `bn1.act` stays. A BatchNorm that still has modules of its own is not folded.
    """
    folded = with_norm_acts_split(model)
    folded = (copy.deepcopy(folded) if folded is model else folded).eval()
    pairs = {}
    for name, module in list(folded.named_modules()):
        if isinstance(module, nn.Conv2d):
            found = following_batchnorm(folded, name)
            if found is not None and not list(folded.get_submodule(found[0]).children()):
                pairs[name] = found[0]
    for conv_name, bn_name in pairs.items():
        conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
        _set_module(folded, conv_name, fuse_conv_bn_eval(conv, bn))
        _set_module(folded, bn_name, nn.Identity())
    return folded, pairs


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def simulate(model: nn.Module, config: PostTrainConfig, stats: Dict, plan: Plan,
             calibration: Optional[Iterable[torch.Tensor]] = None,
             ranges: Optional[Mapping[str, Tuple[float, float]]] = None) -> SimulatedModel:
    """An FP32 copy that computes as the range-linear quantized model would (Distiller's rules, see activation_plan).

    `ranges` (tensor name -> range, as `SimulatedModel.ranges` names them) replace the clipped
    statistics of those tensors (LAPQ's searched clips).
    """
    model = with_norm_acts_split(model)  # the names of the simulated model: `bn1.bn`, `bn1.act`
    graph = model_graph(model)
    folded, pairs = fold_batchnorm(model)
    full_plan = operation_plan(config, model, graph, plan)
    layout = activation_layout(graph, model, full_plan, config, stats, pairs)
    params: Dict[str, object] = {}
    for name, layer in plan.items():
        if layer is not None and layer.bits_weights is not None:
            _quantize_weight(folded.get_submodule(name), layer, name, params)
    samples = _histogram_samples(folded, layout, calibration)
    result = SimulatedModel(folded, params, full_plan, layout)
    hooks = CallHooks()
    for tensor in layout.tensors:
        half = tensor.relu or (config.clip_half_range and ".inputs." not in tensor.name)
        tensor = replace(tensor, n_stds=tensor.n_stds or config.clip_n_stds)
        given = (ranges or {}).get(tensor.name)
        result.ranges[tensor.name] = given or _tensor_range(tensor, samples.get(tensor.name), half)
        scale, zero_point = quantization_params(*result.ranges[tensor.name], tensor.bits, tensor.mode)
        _record_params(params, tensor.name, scale, zero_point)
        hooks.add(tensor.position, _quantizer(scale, zero_point, tensor))
    hooks.install(folded)
    return result


def _record_params(params: Dict[str, object], name: str, scale: torch.Tensor, zero_point: torch.Tensor) -> None:
    prefix = name if ".inputs." in name else f"{name}.output"
    params[f"{prefix}_scale" if prefix.endswith("output") else f"{prefix}.scale"] = scale.item()
    params[f"{prefix}_zero_point" if prefix.endswith("output") else f"{prefix}.zero_point"] = zero_point.item()


def _tensor_range(tensor: TensorPlan, values: Optional[torch.Tensor], half: bool) -> Tuple[float, float]:
    if tensor.clip in HISTOGRAM_CLIPS:
        low, high = histogram_clip(values, tensor.clip, tensor.bits)
    elif tensor.clip == "N_STD" and tensor.n_stds is None:
        raise UserError(f"clip_acts N_STD (for {tensor.name}) needs clip_n_stds")
    else:
        low, high = clipped_range(tensor.stats, tensor.clip, tensor.bits, tensor.n_stds, half)
    if half:
        low = max(low, 0.0)
    if tensor.cap is not None:
        high = min(high, tensor.cap)
    return low, max(high, low)


def _quantizer(scale: torch.Tensor, zero_point: torch.Tensor, tensor: TensorPlan):
    def quantize(x: torch.Tensor) -> torch.Tensor:
        if tensor.relu:
            x = torch.relu(x)
        return fake_quantize(x, scale, zero_point, tensor.bits, tensor.mode)

    return quantize


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


@torch.no_grad()
def _histogram_samples(folded: nn.Module, layout: ActivationLayout, calibration) -> Dict[str, torch.Tensor]:
    """Samples of the tensors whose clip mode looks at the data itself, as the simulated model would see them."""
    wanted = [tensor for tensor in layout.tensors if tensor.clip in HISTOGRAM_CLIPS]
    if not wanted:
        return {}
    if calibration is None:
        raise UserError("clip modes MSE, PERCENTILE and KL need calibration data")
    samples = record_activations(folded, {tensor.name: tensor for tensor in wanted}, calibration, stride=7)
    return {name: torch.cat(values) for name, values in samples.items()}


@torch.no_grad()
def record_activations(folded: nn.Module, tensors: Mapping[str, TensorPlan], batches: Iterable[torch.Tensor],
                       stride: int = 1) -> Dict[str, List[torch.Tensor]]:
    """Every `stride`-th value of each tensor planned for quantization, per batch, as the FP32 `folded`
    model computes it (after the ReLU a quantizer applies); the model's hooks are removed afterwards."""
    parts: Dict[str, List[torch.Tensor]] = {name: [] for name in tensors}
    hooks = CallHooks()
    for name, tensor in tensors.items():
        hooks.add(tensor.position, _recorder(parts[name], tensor.relu, stride))
    handles = hooks.install(folded)
    try:
        for images in batches:
            folded(images)
    finally:
        for handle in handles:
            handle.remove()
    return parts


def _recorder(store: List[torch.Tensor], relu: bool, stride: int):
    def record(x: torch.Tensor) -> torch.Tensor:
        store.append((torch.relu(x) if relu else x).detach().flatten()[::stride].cpu())
        return x

    return record


def int8_deployable(plan: Plan) -> bool:
    """Whether every quantized tensor is 8-bit (what real int8 kernels run) and some layer quantizes both kinds."""
    layers = [layer for layer in plan.values() if layer is not None]
    eight = all(layer.bits_activations in (None, 8) and layer.bits_weights in (None, 8) for layer in layers)
    return eight and any(layer.has_weights and layer.bits_activations == 8 and layer.bits_weights == 8
                         for layer in layers)


def fp32_layers(plan: Plan) -> List[str]:
    """The layers of a `layer_plan` kept in FP32, weights and outputs."""
    return sorted(name for name, layer in plan.items() if layer is None)
