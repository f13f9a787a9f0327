"""Which activations the simulated model quantizes, where, and from which statistics (Distiller's rules).

Every operation whose activations are quantized (a module call, or a ResNet block's
addition) quantizes its output with its own statistics. A convolution's BatchNorm is
folded in, so the BatchNorm's output statistics describe the convolution's output (those
of a split timm BatchNormAct2d are its `drop`'s, norm_act.py); a ReLU that alone reads a
quantized output is fused into it (the range starts at 0) and becomes a pass-through. An
operation that needs quantized inputs (a layer with quantized weights and activations, an
addition, a weightless module unless `quantize_inputs: false`) takes each input as it comes
when the operation before it quantized it; otherwise it quantizes it itself, with its
`input_overrides` for that input, or else with its output settings
(`inputs_quant_auto_fallback`). Functional operations (flatten, view) hand on unquantized
tensors, as in Distiller.

The layout also says what the real int8 model needs to compute the same: the range of each
quantized tensor under the name of the operation that ends its fused chain (`int8_name`),
the range of the model's input, and the operations it must keep in FP32 to honour the settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import fx, nn

from ..core.errors import UserError
from ..sparsity import PRUNABLE_TYPES
from .distiller_names import TRANSPARENT, ModelGraph, Operation, deciding_override
from .norm_act import stats_name
from .ptq_config import InputSettings, PostTrainConfig
from .stats import ModuleStats, TensorStats

RELUS = (nn.ReLU, nn.ReLU6)
FUNCTIONAL_RELUS = (torch.relu, torch.relu_, nn.functional.relu)
APPLIED, FUSED, UNUSED = "applied", "fused", "unused"
Use = Tuple[str, str]  # (APPLIED, FUSED or UNUSED, why)


@dataclass(frozen=True)
class Position:
    """A tensor the hooks of the simulated model reach: a module call's output, or its `input`-th input."""

    module: str
    call: Optional[int]  # None: every call
    input: Optional[int] = None


@dataclass(frozen=True)
class TensorPlan:
    """One tensor the simulated model quantizes; its range comes from `stats` clipped by `clip`."""

    name: str                    # prefix of its linear_quant_params: "conv1", "fc.inputs.0"
    position: Position
    stats: TensorStats
    bits: int
    mode: str
    clip: str
    n_stds: Optional[float]
    relu: bool = False           # a ReLU runs before it is quantized: the range starts at 0
    cap: Optional[float] = None  # ReLU6: the range ends at 6
    int8_name: Optional[str] = None  # (outputs) the operation the int8 model sees producing it
    model_input: bool = False    # (inputs) it is the model's own input
    source: str = ""             # the statistics entry its range comes from


@dataclass
class ActivationLayout:
    tensors: List[TensorPlan] = field(default_factory=list)
    stats_use: Dict[str, Use] = field(default_factory=dict)  # stats name -> how its output range is used
    int8_fp32: Dict[str, str] = field(default_factory=dict)  # operation -> why the int8 model keeps it FP32


def activation_layout(graph: ModelGraph, model: nn.Module, plan: Mapping, config: PostTrainConfig,
                      stats: Mapping[str, ModuleStats], folded: Mapping[str, str]) -> ActivationLayout:
    """The tensors to quantize for `plan` (operation name -> LayerQuant or None).

    `folded` maps each convolution to the BatchNorm folded into it.
    """
    layout = _Layout(graph, model, plan, config, stats, folded).run()
    for name in stats:
        layout.stats_use.setdefault(name, (UNUSED, "no quantized operation uses it"))
    return layout


class _Layout:
    def __init__(self, graph: ModelGraph, model: nn.Module, plan: Mapping, config: PostTrainConfig,
                 stats: Mapping[str, ModuleStats], folded: Mapping[str, str]):
        self.graph, self.plan, self.config, self.stats = graph, plan, config, stats
        self.modules = dict(model.named_modules())
        self.folded = dict(folded)
        self.ops = graph.by_node()
        self.carried: Dict[str, str] = {}      # node -> the op whose quantized output it carries
        self.passthrough: Dict[str, str] = {}  # node of a folded BatchNorm or a fused ReLU -> the op it belongs to
        self.layout = ActivationLayout()

    def run(self) -> ActivationLayout:
        if self.graph.graph is None:
            for op in self.graph.operations:
                if op.module not in self.folded.values():
                    self._operation(op, None)
            return self.layout
        self._mark_folded_batchnorms()
        for node in self.graph.graph.nodes:
            if node.name in self.passthrough or self._transparent(node):
                self._carry_through(node)
            elif node.name in self.ops:
                self._operation(self.ops[node.name], node)
        return self.layout

    def _mark_folded_batchnorms(self) -> None:
        for node in self.graph.graph.nodes:
            op = self.ops.get(node.name)
            bn = self.folded.get(op.module or "") if op is not None else None
            user = _sole_user(node)
            if bn is not None and user is not None and user.op == "call_module" and str(user.target) == bn:
                self.passthrough[user.name] = op.name

    def _transparent(self, node: fx.Node) -> bool:
        return node.op == "call_module" and isinstance(self.modules.get(str(node.target)), TRANSPARENT)

    def _carry_through(self, node: fx.Node) -> None:
        source = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
        if source is not None and source.name in self.carried and node.name not in self.carried:
            self.carried[node.name] = self.carried[source.name]

    def _operation(self, op: Operation, node: Optional[fx.Node]) -> None:
        layer = self.plan.get(op.name)
        if layer is not None and _needs_quantized_inputs(layer, op):
            self._inputs(op, node, layer)
        elif layer is not None and layer.quantize_inputs is False and self._any_unquantized_input(node):
            self._keep_fp32(op, "quantize_inputs: false (the int8 model quantizes every input of an int8 op)")
        if layer is not None and layer.has_weights and layer.bits_weights is None:
            self._keep_fp32(op, "weights not quantized (bits_weights: null)")
        if layer is None or layer.bits_activations is None:
            self._not_quantized(op, layer)
        else:
            self._output(op, node, layer)

    # -- outputs -------------------------------------------------------------------------
    def _output(self, op: Operation, node: Optional[fx.Node], layer) -> None:
        source, stats = self._output_stats(op)
        if stats is None:
            self._note(op, "no statistics for it: left unquantized")
            return
        end, relu, cap = self._fused_chain(op, node, source)
        position = self._output_position(end, op)
        if position is None:
            self._note(op, "no module call reads its output: left unquantized")
            return
        module = self.modules.get(op.module or "")
        if isinstance(module, RELUS):
            relu, cap = True, 6.0 if isinstance(module, nn.ReLU6) else None
        int8_name = self.ops[end.name].name if end is not None and end.name in self.ops else op.name
        self.layout.tensors.append(TensorPlan(op.name, position, stats.output, layer.bits_activations,
                                              layer.mode_activations, layer.clip, layer.clip_n_stds, relu, cap,
                                              int8_name, source=source))
        self.layout.stats_use[source] = (APPLIED, f"quantizes the output of {op.name}")
        if end is not None:
            self.carried[end.name] = op.name

    def _output_stats(self, op: Operation) -> Tuple[Optional[str], Optional[ModuleStats]]:
        # A folded convolution's own output no longer exists: its BatchNorm's statistics describe
        # it (a file collected after folding has none for the BatchNorm: the convolution's are used).
        bn = self.folded.get(op.module or "")
        for name in (stats_name(self.modules, bn) if bn else None, op.name, op.module):
            if name and name in self.stats:
                return name, self.stats[name]
        return None, None

    def _fused_chain(self, op: Operation, node: Optional[fx.Node], source: str
                     ) -> Tuple[Optional[fx.Node], bool, Optional[float]]:
        """The node whose output is this op's quantized output: past its folded BatchNorm and a fused ReLU."""
        if node is None:
            return None, False, None
        end = node
        user = _sole_user(end)
        if user is not None and self.passthrough.get(user.name) == op.name:
            bn = self.ops[user.name].name
            self._mark_fused(op.name, f"its BatchNorm {bn} is folded in; {source}'s range is used")
            end, user = user, _sole_user(user)
        relu = self.modules.get(str(user.target)) if user is not None and user.op == "call_module" else None
        if isinstance(relu, RELUS) and user.name in self.ops:
            self.passthrough[user.name] = op.name
            self._mark_fused(self.ops[user.name].name, f"fused into {op.name} (its range starts at 0)")
            return user, True, 6.0 if isinstance(relu, nn.ReLU6) else None
        if _is_functional_relu(user):  # F.relu has no module to quantize after: the quantizer applies it first
            return end, True, None
        return end, False, None

    def _output_position(self, end: Optional[fx.Node], op: Operation) -> Optional[Position]:
        if end is None:
            return Position(op.module, None) if op.module else None
        if end.op == "call_module":
            return Position(str(end.target), self.ops[end.name].call)
        reader = _sole_user(end)
        if reader is not None and reader.op == "call_module" and reader.name in self.ops:
            index = next(i for i, value in enumerate(reader.args) if value is end)
            return Position(str(reader.target), self.ops[reader.name].call, index)
        return None

    # -- inputs --------------------------------------------------------------------------
    def _inputs(self, op: Operation, node: Optional[fx.Node], layer) -> None:
        args = list(node.args) if node is not None else [None]
        for index, arg in enumerate(args):
            if node is not None and not isinstance(arg, fx.Node):
                continue
            producer = self.carried.get(arg.name) if arg is not None else None
            override = layer.input_overrides.get(index)
            if producer is None:
                self._input(op, arg, index, layer, override)
            elif override is not None:
                raise UserError(f"{self._where(op, 'input_overrides')}: input {index} of '{op.name}' is already "
                                f"quantized by '{producer}'; input_overrides apply only to an input that no "
                                "operation before it quantized")

    def _input(self, op: Operation, arg: Optional[fx.Node], index: int, layer,
               override: Optional[InputSettings]) -> None:
        if override is None and not self.config.inputs_quant_auto_fallback:
            if arg is None:
                return  # without a graph nothing says the input comes unquantized
            before = "the model's input" if arg.op == "placeholder" else f"'{arg.name}'"
            raise UserError(f"{self._where(op, 'input_overrides')}: input {index} of '{op.name}' comes unquantized "
                            f"from {before} and inputs_quant_auto_fallback is false: give it input_overrides "
                            "({from_output: true} or its own settings), or set inputs_quant_auto_fallback: true")
        module_stats = self.stats.get(op.name) or self.stats.get(op.module or "")
        tensor = module_stats.inputs.get(index) if module_stats is not None else None
        if tensor is None or op.module is None:
            return
        bits, mode, clip, n_stds = _input_settings(layer, override)
        model_input = arg is not None and arg.op == "placeholder"
        self.layout.tensors.append(TensorPlan(f"{op.name}.inputs.{index}", Position(op.module, op.call, index),
                                              tensor, bits, mode, clip, n_stds, model_input=model_input,
                                              source=f"{op.name}.inputs.{index}"))
        if override is not None and not model_input:
            self._keep_fp32(op, f"input_overrides on input {index}: the int8 model has no quantization step "
                                "of its own there")

    def _any_unquantized_input(self, node: Optional[fx.Node]) -> bool:
        return node is not None and any(isinstance(arg, fx.Node) and arg.name not in self.carried for arg in node.args)

    # -- what stays FP32 -----------------------------------------------------------------
    def _not_quantized(self, op: Operation, layer) -> None:
        if layer is not None:
            why = "outputs not quantized (bits_activations: null)"
        elif is_weight_layer(self.modules.get(op.module or "")):
            why = "kept in FP32 (null in overrides, or bits null)"
        else:
            why = "not quantized (bits_activations: null)"
        self._note(op, why)
        self._keep_fp32(op, why)

    def _keep_fp32(self, op: Operation, why: str) -> None:
        self.layout.int8_fp32.setdefault(op.name, why)

    # -- bookkeeping ---------------------------------------------------------------------
    def _mark_fused(self, name: str, why: str) -> None:
        if name in self.stats and self.layout.stats_use.get(name, ("",))[0] != APPLIED:
            self.layout.stats_use[name] = (FUSED, why)

    def _note(self, op: Operation, why: str) -> None:
        for name in (op.name, op.module):
            if name and name in self.stats and name not in self.layout.stats_use:
                self.layout.stats_use[name] = (UNUSED, why)

    def _where(self, op: Operation, key: str) -> str:
        pattern = deciding_override(self.config.overrides, [op.name, op.module])
        if pattern is None:
            return self.config.where("inputs_quant_auto_fallback")
        return self.config.where("overrides", pattern, key)


def _needs_quantized_inputs(layer, op: Operation) -> bool:
    if layer.bits_activations is None:
        return False
    if layer.has_weights:
        return layer.bits_weights is not None
    return op.module is None or layer.quantize_inputs is not False


def _input_settings(layer, override: Optional[InputSettings]) -> Tuple[int, str, str, Optional[float]]:
    output = (layer.bits_activations, layer.mode_activations, layer.clip, layer.clip_n_stds)
    if override is None or override.from_output:
        return output
    return (override.bits_activations or output[0], override.mode or output[1], override.clip_acts or output[2],
            override.clip_n_stds or output[3])


def _sole_user(node: fx.Node) -> Optional[fx.Node]:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _is_functional_relu(node: Optional[fx.Node]) -> bool:
    if node is None:
        return False
    return (node.op == "call_function" and node.target in FUNCTIONAL_RELUS
            or node.op == "call_method" and node.target in ("relu", "relu_"))


def is_weight_layer(module: Optional[nn.Module]) -> bool:
    return isinstance(module, PRUNABLE_TYPES)
