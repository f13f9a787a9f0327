"""The Torch-Pruning dependency graph, and which of its groups thinning can take."""
from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Any, Iterator, List, Optional

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..core.errors import UserError
from ..models.exits import collecting_exits, count_exits
from .detect import LAYER_TYPES

if TYPE_CHECKING:  # imported where a graph is built: torch_pruning loads timm and torchvision (2 s)
    import torch_pruning as tp

# Modules whose channels thinning knows how to check and remove exactly; Torch-Pruning's
# placeholder ops (add, relu, pooling, concat, flatten, ...) carry no parameters.
SUPPORTED_TYPES = (*LAYER_TYPES, _BatchNorm, nn.PReLU)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Tracing runs a forward pass: in eval mode it cannot touch BatchNorm's running statistics."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def build_graph(model: nn.Module, example_inputs: Any) -> tp.DependencyGraph:
    import torch_pruning as tp

    try:
        with eval_mode(model), torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forward_fn = _forward_with_exits if count_exits(model) else None
            return tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs, forward_fn=forward_fn,
                                                         verbose=False)
    except Exception as err:
        raise UserError(f"cannot trace the model to find which layers depend on each other: "
                        f"{type(err).__name__}: {err}") from None


def _forward_with_exits(model: nn.Module, example_inputs: Any) -> List[torch.Tensor]:
    """The early exits' logits are outputs too: the channels their layers read must stay consistent."""
    with collecting_exits(model) as exits:
        final = model(example_inputs) if isinstance(example_inputs, torch.Tensor) else model(*example_inputs)
    return [*exits, final]


def root_function(graph: tp.DependencyGraph, module: nn.Module, op: str):
    pruner = graph.get_pruner_of_module(module)
    return pruner.prune_out_channels if op == "out" else pruner.prune_in_channels


def pruning_group(graph: tp.DependencyGraph, module: nn.Module, op: str, idxs: List[int]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return graph.get_pruning_group(module, root_function(graph, module, op), list(idxs))


def is_depthwise(module: nn.Module) -> bool:
    return (isinstance(module, nn.modules.conv._ConvNd) and module.groups > 1
            and module.groups == module.out_channels == module.in_channels)


def is_out_item(graph: tp.DependencyGraph, item) -> bool:
    return graph.is_out_channel_pruning_fn(item.dep.handler)


def is_source(graph: tp.DependencyGraph, item) -> bool:
    """A layer that computes these channels from other channels (not a depthwise pass-through)."""
    module = item.dep.target.module
    return isinstance(module, LAYER_TYPES) and is_out_item(graph, item) and not is_depthwise(module)


def is_consumer(graph: tp.DependencyGraph, item) -> bool:
    module = item.dep.target.module
    return isinstance(module, LAYER_TYPES) and not is_out_item(graph, item) and not is_depthwise(module)


def group_problem(graph: tp.DependencyGraph, group, names) -> Optional[str]:
    """Why this group cannot be thinned, or None when it can."""
    items = list(group.items)
    for item in items:
        module = item.dep.target.module
        if isinstance(module, nn.Parameter):
            return "a bare parameter depends on these channels"
        if isinstance(module, nn.modules.conv._ConvNd) and module.groups > 1 and not is_depthwise(module):
            return (f"grouped convolution '{names.get(module, '?')}' (groups={module.groups}) depends on "
                    "these channels; removing some of them would break its grouping")
        if len(module._parameters) and not isinstance(module, SUPPORTED_TYPES):
            return (f"'{names.get(module, '?')}' ({type(module).__name__}) depends on these channels; "
                    "removing some of them would change its other channels")
    attention = _attention_problem(graph, items, names)
    if attention:
        return attention
    if not any(is_consumer(graph, item) for item in items):
        return "its outputs are the model's outputs (the class count must stay)"
    if not any(is_source(graph, item) for item in items):
        return "its channels come from the model's input"
    return None


def _attention_problem(graph: tp.DependencyGraph, items, names) -> Optional[str]:
    """Attention (a module with `num_heads`, as timm's and torchvision's are) reshapes its projections'
    channels into heads: removing single channels breaks that reshape, and thinning removes channels, not
    whole heads."""
    for item in items:
        module = item.dep.target.module
        if not isinstance(module, LAYER_TYPES):
            continue
        parent_name = names.get(module, "").rpartition(".")[0]
        heads = getattr(graph.model.get_submodule(parent_name), "num_heads", None) if parent_name else None
        if isinstance(heads, int):
            return (f"'{names[module]}' is a projection of attention '{parent_name}' ({heads} heads), whose "
                    "channels are reshaped into heads: thinning removes single channels, not whole heads")
    return None
