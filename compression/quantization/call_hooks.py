"""Functions applied to chosen inputs and outputs of chosen module calls (a module may be called several times).

A torchvision ResNet block calls one `relu` two or three times, and each call is its own
operation (Distiller's relu1, relu2, ...): calls are counted per forward pass, so a function
registered for call 1 runs on the second call only. A call of None means every call.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .activation_plan import Position

TensorFn = Callable[[torch.Tensor], torch.Tensor]


class CallHooks:
    """Register `fn` at positions with `add`, then `install` on the model the positions name."""

    def __init__(self) -> None:
        self._fns: Dict[str, Dict[Tuple[Optional[int], Optional[int]], List[TensorFn]]] = {}
        self._calls: Dict[str, int] = {}

    def add(self, position: Position, fn: TensorFn) -> None:
        where = self._fns.setdefault(position.module, {})
        where.setdefault((position.call, position.input), []).append(fn)

    def install(self, model: nn.Module) -> List[RemovableHandle]:
        """Hook `model` (the hooks stay with it: it is the simulated model); returns the handles."""
        handles = [model.register_forward_pre_hook(lambda _module, _inputs: self._calls.clear())]
        for name in self._fns:
            module = model.get_submodule(name)
            handles.append(module.register_forward_pre_hook(
                lambda _module, inputs, name=name: self._before(name, inputs)))
            handles.append(module.register_forward_hook(
                lambda _module, _inputs, output, name=name: self._after(name, output)))
        return handles

    def _before(self, name: str, inputs: tuple) -> Optional[tuple]:
        call = self._calls[name] = self._calls.get(name, -1) + 1
        changed = list(inputs)
        for (at, index), fns in self._fns[name].items():
            if index is not None and at in (None, call) and index < len(changed):
                for fn in fns:
                    changed[index] = fn(changed[index])
        return tuple(changed)

    def _after(self, name: str, output):
        call = self._calls.get(name, 0)
        for (at, index), fns in self._fns[name].items():
            if index is None and at in (None, call):
                for fn in fns:
                    output = fn(output)
        return output
