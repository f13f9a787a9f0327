"""One mask per pruned parameter, re-applied after every optimizer step and saved with checkpoints."""
from __future__ import annotations

from typing import Dict, Iterable, Optional

import torch
from torch import nn

from ..schedule.model_check import resolve_parameter_name


class MaskStore:
    """Boolean keep-masks by parameter name (the model's own names)."""

    def __init__(self, model: nn.Module):
        self._model = model
        self.masks: Dict[str, torch.Tensor] = {}
        self._params: Optional[Dict[str, nn.Parameter]] = None

    @property
    def params(self) -> Dict[str, nn.Parameter]:
        if self._params is None:
            self._params = dict(self._model.named_parameters())
        return self._params

    def parameter(self, name: str) -> nn.Parameter:
        return self.params[self.resolve(name)]

    def resolve(self, name: str) -> str:
        """The model's name for `name`, with or without DataParallel's 'module.' prefix."""
        return resolve_parameter_name(name, self.params)

    def set(self, name: str, keep: torch.Tensor) -> None:
        name = self.resolve(name)
        self.masks[name] = keep.to(dtype=torch.bool, device=self.parameter(name).device).detach()

    def get(self, name: str) -> Optional[torch.Tensor]:
        return self.masks.get(self.resolve(name))

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            self.masks.pop(self.resolve(name), None)

    @torch.no_grad()
    def apply(self, names: Optional[Iterable[str]] = None) -> None:
        """Zero every masked weight (momentum and weight decay cannot revive it)."""
        params = self.params
        for name in (self.masks if names is None else names):
            params[name].mul_(self.masks[name])

    @torch.no_grad()
    def mask_gradients(self) -> None:
        params = self.params
        for name, keep in self.masks.items():
            if params[name].grad is not None:
                params[name].grad.mul_(keep)

    def refresh_shapes(self) -> None:
        """After layers were thinned: a mask whose parameter changed shape becomes `parameter != 0`."""
        self._params = None
        params = self.params
        for name in list(self.masks):
            if name not in params:
                del self.masks[name]
            elif self.masks[name].shape != params[name].shape:
                self.masks[name] = params[name].detach() != 0

    def state_dict(self) -> Dict[str, torch.Tensor]:
        return {name: mask.cpu() for name, mask in self.masks.items()}

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        self.masks = {}
        for name, mask in state.items():
            self.set(name, mask)
