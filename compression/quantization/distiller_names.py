"""The operations of a model as Distiller names them, torchvision ResNets included.

Distiller's ImageNet ResNets hold the same weights as torchvision's, but each block calls
its own `relu1`, `relu2` (`relu3` in a Bottleneck) and an `add` module, where a torchvision
block calls one `relu` two or three times and adds with `+=`. Statistics files, PTQ
overrides and schedules written for Distiller use those names; here they name the matching
operations of the torchvision graph: the k-th call of a block's `relu` is `relu<k>`, its
residual addition is `add`. Every other operation is a module call named by its module.
"""
from __future__ import annotations

import copy
import operator
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

import torch
from torch import fx, nn

ADD_TARGETS = (operator.add, operator.iadd, torch.add)
TRANSPARENT = (nn.Identity, nn.Dropout, nn.Dropout2d, nn.AlphaDropout)  # output is the input (eval mode)


@dataclass(frozen=True)
class Operation:
    """One call of a leaf module, or a block's residual addition, under its Distiller name."""

    node: str                # node name in the traced graph
    name: str                # Distiller's name: the module's, or a block's relu<k> / add
    module: Optional[str]    # the module called (None for an addition)
    call: Optional[int]      # which call of that module (None: every call, the graph being unknown)


@dataclass
class ModelGraph:
    """A model's operations in execution order, and its traced graph (None where torch.fx cannot trace it)."""

    graph: Optional[fx.Graph]
    operations: List[Operation] = field(default_factory=list)

    def names(self) -> Set[str]:
        """Every name an operation answers to: its Distiller name and its module's name."""
        return {op.name for op in self.operations} | {op.module for op in self.operations if op.module}

    def named(self, name: str) -> List[Operation]:
        """The operations a name stands for: one for a Distiller alias, every call for a module."""
        return [op for op in self.operations if op.name == name or op.module == name]

    def aliases(self) -> Dict[str, Operation]:
        return {op.name: op for op in self.operations if op.name != op.module}

    def by_node(self) -> Dict[str, Operation]:
        return {op.node: op for op in self.operations}


def name_matches(pattern, name: str) -> bool:
    """Distiller's rule for overrides: the regex matches the whole name ('module.' prefix optional)."""
    return bool(re.fullmatch(pattern, name) or re.fullmatch(pattern, f"module.{name}"))


def deciding_override(overrides, names) -> Optional[str]:
    """The `overrides` key that decides for the operation called `names`, as Distiller decides: a key that is
    exactly one of the names (e.g. `layer4.1.conv2`) wins over every regex, else the first regex matching one."""
    names = [name for name in names if name]
    exact = next((key for name in names for key in (name, f"module.{name}") if key in overrides), None)
    if exact is not None:
        return exact
    return next((pattern for pattern in overrides if any(name_matches(pattern, name) for name in names)), None)


def resnet_block_types() -> Tuple[type, ...]:
    from torchvision.models.resnet import BasicBlock, Bottleneck

    return BasicBlock, Bottleneck


def model_graph(model: nn.Module) -> ModelGraph:
    """The Distiller-named operations of `model` (a module call per leaf module when it cannot be traced)."""
    try:
        graph = fx.symbolic_trace(copy.deepcopy(model).eval()).graph
    except Exception:  # noqa: BLE001  (tracing fails in many ways; all mean "no graph")
        return ModelGraph(None, _leaf_operations(model))
    return ModelGraph(graph, graph_operations(graph, model))


def graph_operations(graph: fx.Graph, model: nn.Module) -> List[Operation]:
    """The operations of a traced graph of `model`, ResNet blocks' relu calls and additions under Distiller's names."""
    modules = dict(model.named_modules())
    blocks = {name for name, module in modules.items() if isinstance(module, resnet_block_types())}
    calls: Dict[str, int] = {}
    block_relus: Dict[str, int] = {}
    block_adds = _block_adds(graph, blocks)
    operations = []
    for node in graph.nodes:
        if node.op == "call_module" and _is_leaf_operation(modules.get(str(node.target))):
            target = str(node.target)
            call = calls[target] = calls.get(target, -1) + 1
            name = target
            block, _, child = target.rpartition(".")
            if block in blocks and child == "relu":
                block_relus[block] = block_relus.get(block, 0) + 1
                name = f"{block}.relu{block_relus[block]}"
            operations.append(Operation(node.name, name, target, call))
        elif node.name in block_adds:
            operations.append(Operation(node.name, f"{block_adds[node.name]}.add", None, None))
    return operations


def _block_adds(graph: fx.Graph, blocks: Set[str]) -> Dict[str, str]:
    """node name -> block, for the one residual addition of each ResNet block."""
    found: Dict[str, List[str]] = {}
    for node in graph.nodes:
        if node.op == "call_function" and node.target in ADD_TARGETS:
            block = _innermost_block(node, blocks)
            if block is not None:
                found.setdefault(block, []).append(node.name)
    return {nodes[0]: block for block, nodes in found.items() if len(nodes) == 1}


def _innermost_block(node: fx.Node, blocks: Set[str]) -> Optional[str]:
    stack = node.meta.get("nn_module_stack") or {}
    paths = [value[0] if isinstance(value, tuple) else key for key, value in stack.items()]
    inside = [path for path in paths if path in blocks]
    return inside[-1] if inside else None


def _is_leaf_operation(module: Optional[nn.Module]) -> bool:
    return module is not None and next(module.children(), None) is None and not isinstance(module, TRANSPARENT)


def _leaf_operations(model: nn.Module) -> List[Operation]:
    return [Operation(name, name, name, None) for name, module in model.named_modules()
            if name and _is_leaf_operation(module)]
