"""Undo pruning: Torch-Pruning edits modules in place, so a module's attributes are saved first."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn

# Torch-Pruning replaces parameters and buffers (it never edits their values in place), so a
# copy of these dicts and of the plain attributes is enough to restore a module.
_DICTS = ("_parameters", "_buffers")


def _module_state(module: nn.Module) -> Dict[str, Any]:
    return {key: dict(value) if key in _DICTS else value for key, value in module.__dict__.items()}


def _restore_module(module: nn.Module, state: Dict[str, Any]) -> None:
    module.__dict__.clear()
    module.__dict__.update({key: dict(value) if key in _DICTS else value for key, value in state.items()})


class Journal:
    """Saved module states in the order they were taken, and the optimizer as it was at the start."""

    def __init__(self, optimizer: Optional[torch.optim.Optimizer] = None):
        self._entries: List[List[Tuple[nn.Module, Dict[str, Any]]]] = []
        self._optimizer = optimizer
        self._optimizer_params = [list(g["params"]) for g in optimizer.param_groups] if optimizer else []
        self._optimizer_state = dict(optimizer.state) if optimizer else {}

    def save(self, modules: Iterable[nn.Module]) -> None:
        unique = {id(m): m for m in modules if isinstance(m, nn.Module)}
        self._entries.append([(m, _module_state(m)) for m in unique.values()])

    def undo_last(self) -> None:
        for module, state in self._entries.pop():
            _restore_module(module, state)

    def undo_all(self) -> None:
        while self._entries:
            self.undo_last()
        if self._optimizer is not None:
            for group, params in zip(self._optimizer.param_groups, self._optimizer_params):
                group["params"] = params
            self._optimizer.state.clear()
            self._optimizer.state.update(self._optimizer_state)
