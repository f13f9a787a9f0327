"""Real int8: the one module that talks to torch.ao's quantized engine (FX graph mode).

`convert_to_int8` traces the model, fuses Conv/BatchNorm/ReLU (BatchNorm folded into the
weights; timm's BatchNormAct2d is split into BatchNorm `bn1.bn` and activation `bn1.act` first,
norm_act.py, as the simulated PTQ does), observes activations on calibration batches and
converts to modules that run on the engine's int8 kernels (x86 by default). Everything else
in the project goes through here, so the engine can change in one place.

Activation ranges from a stats file (`activation_ranges`, operation name -> (min, max) of that
operation's output) replace what the observers saw: after calibration, the observer that
follows the op producing that output is swapped for a MinMaxObserver of the same dtype and
quant range whose min_val/max_val are the given range, so convert derives the output scale
and zero point from it. Names are module names or Distiller's names of a torchvision ResNet
block's operations (`layer1.0.relu2`, `layer1.0.add`: distiller_names.py). When modules are
fused (conv1 -> bn1 -> relu1), the fused op produces the output of the LAST module of the
chain (relu1): a range given for relu1 applies there, while a range for conv1 or bn1 (whose
outputs no longer exist) is not used. An op whose int8 kernel keeps its input's scale
(pooling, flatten) cannot take a range of its own. Ranges not used are listed, with the
reason, in `Int8Model.unused_ranges`. A module called in several places (torchvision's `relu`
in a BasicBlock) gets a range given under its own name at every place. `input_range` is the
range the model's input is quantized with. `weights` gives layers their int8 weights (and bias) as
they are, instead of quantizing the model's float weights (a packed int8 model's, already on their grid:
quantizing them again would not give back the same scales).
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Collection, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import fx, nn

from ..core.errors import UserError, did_you_mean, first_line
from ..quiet import torch_deprecations_silenced
from .distiller_names import ModelGraph, graph_operations, model_graph
from .norm_act import with_norm_acts_split

Range = Tuple[float, float]
OBSERVER_PREFIX = "activation_post_process"
REQUESTED = "requested"
NO_KERNEL = "torch.ao's backend config has no int8 pattern for this op here: runs in FP32"
FUSED = "its output no longer exists in the int8 model (fused into the operation after it)"
SHARED = "its int8 kernel keeps its input's scale and zero point"
KEPT_FP32 = "the int8 model keeps it in FP32"


@dataclass
class Int8Model:
    """A converted model: `module` runs on real int8 kernels under `engine`."""

    module: fx.GraphModule
    engine: str
    activation_bits: int = 8  # levels the uint8 activations use: 7 bits where the CPU lacks VNNI
    fp32_modules: Dict[str, str] = field(default_factory=dict)  # name -> why it stayed FP32
    unused_ranges: Dict[str, str] = field(default_factory=dict)  # range given but not used -> why
    calibrated: Optional[fx.GraphModule] = field(default=None, repr=False)  # observed graph before convert

    def reference(self) -> fx.GraphModule:
        """The same quantization as float ops between quantize/dequantize ops (no engine kernels).

        Scales, zero points and weight quantization are this model's; only the arithmetic
        differs (float products instead of the engine's integer ones).
        """
        from torch.ao.quantization.quantize_fx import _convert_to_reference_decomposed_fx

        if self.calibrated is None:
            raise UserError("this int8 model keeps no calibrated graph to write a reference form from")
        with quantized_engine(self.engine), torch_deprecations_silenced():
            return _convert_to_reference_decomposed_fx(copy.deepcopy(self.calibrated))

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        with quantized_engine(self.engine), torch.no_grad():
            return self.module(*inputs)

    def observer_qparams(self) -> Dict[str, List[float]]:
        """[scale, zero point] of every activation the conversion quantized, by its observer's name: with
        them `convert_to_int8` rebuilds this model's activation quantization exactly, without data."""
        if self.calibrated is None:
            return {}
        found = {}
        for name, module in self.calibrated._modules.items():
            if name.startswith(OBSERVER_PREFIX) and getattr(module, "dtype", None) in (torch.quint8, torch.qint8):
                scale, zero = module.calculate_qparams()
                found[name] = [float(scale.flatten()[0]), int(zero.flatten()[0])]
        return found


@contextmanager
def quantized_engine(engine: str) -> Iterator[None]:
    """Run with torch's quantized engine set to `engine`, restoring the previous one after."""
    check_engine(engine)
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


def check_engine(engine: str) -> None:
    supported = [name for name in torch.backends.quantized.supported_engines if name != "none"]
    if engine not in supported:
        raise UserError("int8 engine: " + did_you_mean(engine, supported, "engine"))


def convert_to_int8(model: nn.Module, example_inputs: Sequence[torch.Tensor], calibration_batches: Iterable,
                    fp32_modules: Collection[str] = (), per_channel: bool = True,
                    activation_ranges: Optional[Dict[str, Range]] = None, engine: str = "x86",
                    input_range: Optional[Range] = None,
                    weights: Optional[Dict[str, Tuple[torch.Tensor, Optional[torch.Tensor]]]] = None,
                    observer_qparams: Optional[Dict[str, Sequence[float]]] = None) -> Int8Model:
    """Calibrate on `calibration_batches` (tensors, or (inputs, labels) pairs) and convert to int8.

    Operations named in `fp32_modules` (modules and everything inside them, or a ResNet block's
    `add`) stay FP32; ops the backend has no int8 kernel for stay FP32 too. Both are listed in
    the result's `fp32_modules`. `observer_qparams` (an earlier conversion's `Int8Model.observer_qparams()`
    for the same model) fixes every activation's scale and zero point, whatever the calibration saw.
    """
    example_inputs = tuple(example_inputs)
    ranges = dict(activation_ranges or {})
    model = with_norm_acts_split(model)  # a copy: timm's BatchNormAct2d fuses as Conv-BN(-ReLU) once split
    graph = model_graph(model)
    _check_names(model, graph, fp32_modules, ranges)
    with quantized_engine(engine), torch_deprecations_silenced():
        full_range = full_range_activations(engine)
        mapping = _qconfig_mapping(engine, full_range, per_channel, _fp32_targets(graph, fp32_modules))
        prepared = _prepare(model, example_inputs, mapping)
        _calibrate(prepared, calibration_batches)
        unused = _apply_ranges(prepared, model, ranges, fp32_modules)
        if input_range is not None:
            _fix_input_observers(prepared, input_range)
        _fix_qparams(prepared, observer_qparams or {})
        calibrated = copy.deepcopy(prepared)
        try:
            converted = torch.ao.quantization.quantize_fx.convert_fx(prepared)
        except Exception as err:  # noqa: BLE001  (any failure of the converter is the model's)
            raise UserError(f"model cannot be converted to int8: {first_line(err)}") from None
        _set_weights(converted, weights or {})
        if example_inputs and example_inputs[0].dim() == 4:
            _channels_last_input(converted)
        float_ops = _float_ops(converted, example_inputs)
    return Int8Model(converted, engine, 8 if full_range else 7, _fp32_report(float_ops, fp32_modules, graph),
                     unused, calibrated)


def _set_weights(converted: fx.GraphModule, weights: Dict[str, Tuple[torch.Tensor, Optional[torch.Tensor]]]) -> None:
    modules = {name: module for name, module in converted.named_modules() if callable(getattr(module, "weight", None))}
    for name, (weight, bias) in weights.items():
        if name not in modules:
            raise UserError("int8 weights: " + did_you_mean(name, sorted(modules), "int8 layer"))
        modules[name].set_weight_bias(weight, bias)


def _check_names(model: nn.Module, graph: ModelGraph, fp32_modules: Collection[str], ranges: Dict[str, Range]) -> None:
    names = [name for name, _ in model.named_modules() if name]
    names += sorted(graph.names() - set(names))
    for name in list(fp32_modules) + list(ranges):
        if name not in names:
            raise UserError("int8: " + did_you_mean(name, names, "module"))
    for name, (low, high) in ranges.items():
        if not (float(low) <= float(high)):
            raise UserError(f"int8: activation range of '{name}' has min {low} > max {high}")


def full_range_activations(engine: str) -> bool:
    """Whether uint8 activations may use all 256 levels on this CPU.

    torch.ao's x86 preset keeps activations to 128 levels because, without VNNI, u8 x s8
    pair sums are accumulated in saturating int16; with VNNI (and on the onednn engine)
    the products go straight to int32, so an 8-bit range means what a stats file says.
    """
    if engine in ("onednn", "qnnpack"):  # their presets are full-range already
        return True
    return engine == "x86" and bool(getattr(torch.cpu, "_is_vnni_supported", lambda: False)())


def _fp32_targets(graph: ModelGraph, names: Collection[str]) -> List[Tuple[str, Optional[int]]]:
    """(module, None) for a module or a module call, (block, k) for the k-th addition inside a block."""
    aliases = graph.aliases()
    targets = []
    for name in names:
        op = aliases.get(name)
        if op is None or op.module is not None:
            targets.append((op.module if op is not None else name, None))
        else:
            targets.append((name.rpartition(".")[0], 0))
    return targets


def _qconfig_mapping(engine: str, full_range: bool, per_channel: bool, fp32: List[Tuple[str, Optional[int]]]):
    import operator

    from torch.ao.quantization import QConfig, default_weight_observer, get_default_qconfig_mapping

    mapping = get_default_qconfig_mapping(engine)
    if full_range:
        _widen_activations(mapping)
    if not per_channel:
        activation = mapping.global_qconfig.activation
        mapping.set_global(QConfig(activation=activation, weight=default_weight_observer))
    for name, add_index in fp32:
        if add_index is None:
            mapping.set_module_name(name, None)
        else:
            mapping.set_module_name_object_type_order(name, operator.add, add_index, None)
    return mapping


def _widen_activations(mapping) -> None:
    """Give every qconfig that uses the preset's activation observer a full-range one instead."""
    from torch.ao.quantization import QConfig
    from torch.ao.quantization.observer import HistogramObserver

    preset = mapping.global_qconfig.activation
    full = HistogramObserver.with_args(reduce_range=False)

    def widened(qconfig):
        if qconfig is None or qconfig.activation is not preset:
            return qconfig
        return QConfig(activation=full, weight=qconfig.weight)

    mapping.set_global(widened(mapping.global_qconfig))
    for key, qconfig in list(mapping.object_type_qconfigs.items()):
        mapping.set_object_type(key, widened(qconfig))


def _prepare(model: nn.Module, example_inputs: Tuple[torch.Tensor, ...], mapping) -> fx.GraphModule:
    from torch.ao.quantization.quantize_fx import prepare_fx

    float_model = copy.deepcopy(model).eval()
    _trace_through_flatten_modules(float_model)
    try:
        return prepare_fx(float_model, mapping, example_inputs)
    except Exception as err:  # noqa: BLE001  (tracing fails in many ways; all mean "not traceable")
        raise UserError(f"model cannot be converted to int8: torch.fx cannot trace it "
                        f"({type(err).__name__}: {first_line(err)})") from None


class _Flatten(nn.Module):
    """`nn.Flatten` as torch.fx traces it: a `torch.flatten` call, which torch.ao's lowering keeps in int8.
    torch.ao lowers the `torch.flatten` function but not the `nn.Flatten` module (timm's heads, most
    hand-written classifiers), which it would run in FP32 between a dequantize and a quantize."""

    def __init__(self, start_dim: int, end_dim: int):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, self.start_dim, self.end_dim)


def _trace_through_flatten_modules(model: nn.Module) -> None:
    for name, module in list(model.named_modules()):
        if type(module) is nn.Flatten:
            parent, _, child = name.rpartition(".")
            flatten = _Flatten(module.start_dim, module.end_dim)
            setattr(model.get_submodule(parent) if parent else model, child, flatten)


def _calibrate(prepared: fx.GraphModule, batches: Iterable) -> None:
    count = 0
    with torch.no_grad():
        for batch in batches:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            prepared(inputs)
            count += 1
    if count == 0:
        raise UserError("int8: no calibration batches")


def _apply_ranges(prepared: fx.GraphModule, model: nn.Module, ranges: Dict[str, Range],
                  fp32_modules: Collection[str] = ()) -> Dict[str, str]:
    """Swap the output observer of each named operation for one fixed to its given range; returns the unused."""
    if not ranges:
        return {}
    producers = _output_producers(prepared, model)
    unused = {}
    fixed: List[nn.Module] = []
    for name, (low, high) in ranges.items():
        nodes = producers.get(name, [])
        observers = [_observer_after(node) for node in nodes]
        own = [target for node, target in zip(nodes, observers) if target and not _shares_input_observer(
            prepared, node, target)]
        for target in own:
            # one observer for several outputs (torch.cat's inputs share the output's scale): none clipped
            current = prepared.get_submodule(target)
            if any(current is observer for observer in fixed):
                low, high = min(float(low), current.min_val.item()), max(float(high), current.max_val.item())
            fixed.append(_fix_observer(prepared, target, float(low), float(high)))
        if not own:
            unused[name] = KEPT_FP32 if name in fp32_modules else SHARED if any(observers) else FUSED
    return unused


def _output_producers(prepared: fx.GraphModule, model: nn.Module) -> Dict[str, List[fx.Node]]:
    """operation name -> the prepared-graph nodes whose output is that operation's output.

    A node of the original graph that no longer exists in the prepared one was fused into
    the op before it, so the surviving op produces the output of the last module it absorbed.
    Operations answer to their module's name and to Distiller's name (`layer1.0.relu2`).
    """
    model = copy.deepcopy(model).eval()
    original = fx.symbolic_trace(model).graph
    named = {op.node: op for op in graph_operations(original, model)}
    prepared_nodes = {node.name: node for node in prepared.graph.nodes}
    producers: Dict[str, List[fx.Node]] = {}
    for node in original.nodes:
        if node.name not in prepared_nodes:
            continue
        end = node
        while len(end.users) == 1:
            (user,) = end.users
            if user.op != "call_module" or user.name in prepared_nodes:
                break
            end = user
        op = named.get(end.name)
        for name in {op.name, op.module} if op is not None else set():
            if name:
                producers.setdefault(name, []).append(prepared_nodes[node.name])
    return producers


def _observer_after(node: fx.Node) -> Optional[str]:
    for user in node.users:
        if user.op == "call_module" and str(user.target).startswith(OBSERVER_PREFIX):
            return str(user.target)
    return None


def _shares_input_observer(prepared: fx.GraphModule, node: fx.Node, target: str) -> bool:
    """Whether the observer after `node` is the very one before it (an op that keeps its input's scale)."""
    observer = prepared.get_submodule(target)
    return any(isinstance(arg, fx.Node) and arg.op == "call_module" and str(arg.target).startswith(OBSERVER_PREFIX)
               and prepared.get_submodule(str(arg.target)) is observer for arg in node.args)


def _fix_input_observers(prepared: fx.GraphModule, input_range: Range) -> None:
    for node in prepared.graph.nodes:
        if node.op == "placeholder":
            target = _observer_after(node)
            if target:
                _fix_observer(prepared, target, float(input_range[0]), float(input_range[1]))


def _fix_observer(prepared: fx.GraphModule, target: str, low: float, high: float) -> nn.Module:
    """Replace the observer (under every name that shares it) by a MinMaxObserver holding [low, high]; returns it."""
    from torch.ao.quantization.observer import MinMaxObserver

    old = prepared.get_submodule(target)
    fixed = MinMaxObserver(dtype=old.dtype, qscheme=old.qscheme, quant_min=old.quant_min,
                           quant_max=old.quant_max)
    fixed.min_val = torch.tensor(low)
    fixed.max_val = torch.tensor(high)
    for name, module in list(prepared._modules.items()):  # named_children() skips a shared module's other names
        if module is old:
            setattr(prepared, name, fixed)
    return fixed


def _fix_qparams(prepared: fx.GraphModule, qparams: Dict[str, Sequence[float]]) -> None:
    """Replace each named observer by one that gives the recorded scale and zero point."""
    from torch.ao.quantization.observer import FixedQParamsObserver

    for target, (scale, zero) in qparams.items():
        old = prepared._modules.get(target)
        if old is None:
            raise UserError(f"the recorded int8 activation parameters do not fit this model: it has no '{target}'")
        fixed = FixedQParamsObserver(float(scale), int(zero), dtype=old.dtype, qscheme=old.qscheme,
                                     quant_min=old.quant_min, quant_max=old.quant_max)
        for name, module in list(prepared._modules.items()):
            if module is old:
                setattr(prepared, name, fixed)


def _channels_last_input(converted: fx.GraphModule) -> None:
    """Feed 4-D inputs channels-last: the x86 int8 convolutions run several times faster on it."""
    graph = converted.graph
    for node in list(graph.nodes):
        if node.op != "placeholder":
            continue
        with graph.inserting_after(node):
            contiguous = graph.call_method("contiguous", (node,), {"memory_format": torch.channels_last})
        node.replace_all_uses_with(contiguous, delete_user_cb=lambda user: user is not contiguous)
        break
    graph.lint()
    converted.recompile()


class _FloatOpFinder(fx.Interpreter):
    """Runs the converted graph and records the ops whose output is a float tensor."""

    SKIP = {"placeholder", "get_attr", "output"}

    def __init__(self, module: fx.GraphModule):
        super().__init__(module)
        self.float_ops: List[str] = []

    def run_node(self, node: fx.Node) -> Any:
        result = super().run_node(node)
        if node.op not in self.SKIP and _is_float(result) and not _is_quant_boundary(node):
            name = str(node.target) if node.op == "call_module" else node.name
            if name not in self.float_ops:
                self.float_ops.append(name)
        return result


def _is_float(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and not value.is_quantized and value.is_floating_point()


def _is_quant_boundary(node: fx.Node) -> bool:
    return node.target in ("dequantize", "contiguous") or node.target is torch.quantize_per_tensor


def _float_ops(converted: fx.GraphModule, example_inputs: Tuple[torch.Tensor, ...]) -> List[str]:
    finder = _FloatOpFinder(converted)
    with torch.no_grad():
        finder.run(*example_inputs)
    return finder.float_ops


def _fp32_report(float_ops: List[str], requested: Collection[str], graph: ModelGraph) -> Dict[str, str]:
    report = {name: REQUESTED for name in requested}
    aliases = graph.aliases()
    covered = set(requested)
    for name in requested:
        if name in aliases:
            covered.update(filter(None, (aliases[name].node, aliases[name].module)))
    for name in float_ops:
        if not any(name == req or name.startswith(req + ".") for req in covered):
            report[name] = NO_KERNEL
    return report
