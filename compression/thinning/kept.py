"""Why zero filters or channels stay after thinning, said with the layers involved and what to do."""
from __future__ import annotations

from typing import Dict, List, Optional

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .detect import LAYER_TYPES
from .exactness import Leak, Origin
from .graph import is_depthwise

_UNKNOWN = "they still carry a value that other layers read"
_OWN_BIAS = ("their bias entries are not zero, so they still output a constant that the next layers read "
             "(prune them with `prune_bias: true` on the pruner to zero the bias too)")
_LEADER = "one pruner with `group_dependency: Leader` over the weights of '{this}' and '{other}'"


def kept_notes(graph, names: Dict[nn.Module, str], module: nn.Module, kind: str,
               leaks: Dict[int, Optional[Leak]], staying: List[int]) -> List[str]:
    """One note per distinct reason, with how many of `staying` it keeps."""
    counts: Dict[str, int] = {}
    for idx in staying:
        reason = _reason(graph, names, module, kind, leaks.get(idx))
        counts[reason] = counts.get(reason, 0) + 1
    return [f"{count} zero {kind} kept: {reason}" for reason, count in counts.items()]


def _reason(graph, names, module: nn.Module, kind: str, leak: Optional[Leak]) -> str:
    if not leak:
        return _UNKNOWN
    if kind == "channels":
        first = leak[0]
        if first.reader is None:
            return f"'{names.get(first.layer, '?')}' puts a non-zero value on them, which reaches the model's output"
        reader = names.get(first.reader, "?")
        return (f"'{reader}' reads them too, with non-zero weights (the value comes from "
                f"'{names.get(first.layer, '?')}'): zero them in '{reader}' as well")
    partners = [origin for origin in leak if origin.layer is not module and _is_source_layer(origin.layer)]
    if partners:
        return _partners_reason(names, module, partners)
    batchnorm = next((origin for origin in leak if isinstance(origin.layer, _BatchNorm)), None)
    if batchnorm is not None:
        return _batchnorm_reason(graph, names, module, batchnorm)
    if any(origin.layer is module for origin in leak):
        return _OWN_BIAS
    depthwise = names.get(leak[0].layer, "?")
    return (f"depthwise '{depthwise}' adds its non-zero bias to them, {_reaches(names, leak[0])} "
            f"(zero it with `prune_bias: true` on a pruner of '{depthwise}')")


def _is_source_layer(layer: nn.Module) -> bool:
    return isinstance(layer, LAYER_TYPES) and not is_depthwise(layer)


def _reaches(names, origin: Origin) -> str:
    if origin.reader is None:
        return "which reaches the model's output"
    return f"which '{names.get(origin.reader, '?')}' reads"


def _partners_reason(names, module: nn.Module, partners: List[Origin]) -> str:
    this, others = names.get(module, "?"), [names.get(origin.layer, "?") for origin in partners]
    quoted = _listed(others)
    leader = f"one pruner with `group_dependency: Leader` over the weights of {_listed([this, *others])}"
    single = len(partners) == 1
    if is_depthwise(module):  # the layer feeding the chain, read around it too
        return (f"{quoted} {'outputs' if single else 'output'} non-zero values on these channels, "
                f"{_reaches(names, partners[0])} without passing through '{this}': zero the same filters of "
                f"{quoted} too ({leader})")
    reader = partners[0].reader
    reads = f"'{names.get(reader, '?')}' reads the sum" if reader is not None else "the sum reaches the model's output"
    return (f"{quoted} {'adds' if single else 'add'} non-zero values to these channels (their filters there are "
            f"not zero), and {reads}: "
            f"zero the same filters in all of them ({leader})")


def _listed(layers: List[str]) -> str:
    quoted = [f"'{layer}'" for layer in layers]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _batchnorm_reason(graph, names, module: nn.Module, origin: Origin) -> str:
    producer = _normalized_layer(graph, origin.layer)
    after = "it" if producer is module else f"'{names.get(producer)}'" if producer is not None else "them"
    shift = (f"'{names.get(origin.layer, '?')}', the BatchNorm after {after}, outputs a non-zero value for them even "
             f"from a zero input (its bias or running mean is not zero), {_reaches(names, origin)}")
    if producer is None or producer is module or _filters_zero(producer, origin.idxs):
        return shift + ": zero its weight and bias for them too (a filter pruner does so with the filters)"
    this, other = names.get(module, "?"), names.get(producer, "?")
    return shift + f": zero the same filters of '{other}' too ({_LEADER.format(this=this, other=other)})"


def _filters_zero(layer: nn.Module, idxs) -> bool:
    return bool(idxs) and not bool(layer.weight.detach()[list(idxs)].ne(0).any())


def _normalized_layer(graph, batchnorm: _BatchNorm) -> Optional[nn.Module]:
    """The Conv/Linear layer whose output alone this BatchNorm reads."""
    node = graph.module2node.get(batchnorm)
    inputs = node.inputs if node is not None else []
    if len(inputs) == 1 and isinstance(inputs[0].module, LAYER_TYPES):
        return inputs[0].module
    return None
