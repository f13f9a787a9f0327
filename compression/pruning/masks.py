"""One mask per pruned parameter, re-applied after every optimizer step and saved with checkpoints."""
from __future__ import annotations

import contextlib
from typing import Dict, Iterable, Optional, Set

import torch
from torch import nn

from ..core.param_names import resolve_parameter_name


class MaskStore:
    """Boolean keep-masks by parameter name (the model's own names).

    A hard mask zeroes its weights after every optimizer step. A forward-only mask
    (Distiller's mask_on_forward_only / use_double_copies) zeroes them for the forward pass
    and puts the dense values back after the step, so pruned weights keep learning and can
    come back when the mask is recomputed.
    """

    def __init__(self, model: nn.Module):
        self._model = model
        self.masks: Dict[str, torch.Tensor] = {}
        self.forward_only: Set[str] = set()
        self._stash: Dict[str, torch.Tensor] = {}
        self._grad_hooks: Dict[str, object] = {}
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

    def set(self, name: str, keep: torch.Tensor, forward_only: bool = False) -> None:
        name = self.resolve(name)
        self.masks[name] = keep.to(dtype=torch.bool, device=self.params[name].device).detach()
        if forward_only:
            self.forward_only.add(name)
        else:
            self.forward_only.discard(name)

    def get(self, name: str) -> Optional[torch.Tensor]:
        return self.masks.get(self.resolve(name))

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            name = self.resolve(name)
            self.masks.pop(name, None)
            self.forward_only.discard(name)
            hook = self._grad_hooks.pop(name, None)
            if hook is not None:
                hook.remove()

    def harden(self, names: Iterable[str]) -> None:
        """Forward-only masks become hard masks (keep_mask at a policy's end)."""
        for name in names:
            name = self.resolve(name)
            self.forward_only.discard(name)
            if name in self.masks:
                with torch.no_grad():
                    zero_pruned(self.params[name], self.masks[name])

    def _refit_if_replaced(self) -> bool:
        """A masked parameter the model no longer holds was replaced by a change of its layer made outside the
        scheduler (`compressor.thin` between steps): the masks are refitted as after the scheduler's own."""
        params = self.params
        for name in self.masks:
            try:
                current = self._model.get_parameter(name)
            except AttributeError:  # its layer is gone
                current = None
            if current is not params.get(name):
                self.refresh_shapes()
                return True
        return False

    @torch.no_grad()
    def mask_for_forward(self) -> None:
        """Step begin: forward-only masks hide their weights, keeping the dense values aside."""
        self._refit_if_replaced()
        for name in self.forward_only:
            param, keep = self.params[name], self.masks[name]
            self._stash[name] = param * ~keep
            zero_pruned(param, keep)

    @contextlib.contextmanager
    def forward_masked(self):
        """Evaluation sees the pruned model, also where masks are forward-only."""
        self.mask_for_forward()
        try:
            yield
        finally:
            self._restore_forward()

    @torch.no_grad()
    def _restore_forward(self) -> None:
        for name, stashed in self._stash.items():
            self.params[name].add_(stashed)
        self._stash = {}

    @torch.no_grad()
    def apply(self) -> None:
        """After the optimizer step: hard masks zero their weights; forward-only ones restore theirs."""
        if self._refit_if_replaced():
            self._stash = {}  # dense values of the shapes that were replaced
        params = self.params
        for name, keep in self.masks.items():
            if name in self.forward_only:
                stashed = self._stash.pop(name, None)
                if stashed is not None:
                    params[name].add_(stashed)
            else:
                zero_pruned(params[name], keep)

    def mask_gradients(self, names: Iterable[str]) -> None:
        """Zero the gradients of masked weights (a hook that reads the current mask)."""
        for name in names:
            name = self.resolve(name)
            if name not in self._grad_hooks:
                self._grad_hooks[name] = self.params[name].register_hook(self._gradient_hook(name))

    def _gradient_hook(self, name: str):
        def hook(grad: torch.Tensor) -> torch.Tensor:
            keep = self.masks.get(name)
            return grad if keep is None else grad * keep
        return hook

    def refresh_shapes(self) -> None:
        """After layers were thinned or replaced: a mask whose parameter changed shape becomes `parameter != 0`,
        one whose parameter is gone is dropped."""
        self._params = None
        params = self.params
        hooked = list(self._grad_hooks)
        for name in hooked:  # the hooks sit on the replaced parameter objects
            self._grad_hooks.pop(name).remove()
        for name in list(self.masks):
            if name not in params:  # its layer was replaced (factorized): the mask goes with it
                del self.masks[name]
                self.forward_only.discard(name)
            elif self.masks[name].shape != params[name].shape:
                self.masks[name] = params[name].detach() != 0
        self.mask_gradients([name for name in hooked if name in params])

    def state_dict(self) -> Dict[str, object]:
        return {"masks": {name: mask.cpu() for name, mask in self.masks.items()},
                "forward_only": sorted(self.forward_only)}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        self.masks, self.forward_only = {}, set()
        forward_only = set(state.get("forward_only", []))
        for name, mask in state.get("masks", {}).items():
            self.set(name, mask, forward_only=name in forward_only)


def zero_pruned(param: torch.Tensor, keep: torch.Tensor) -> None:
    """Zero the weights `keep` drops, in place, as +0.0: the product alone leaves -0.0 where a weight was negative,
    which a packed file (exact to the bit) would store as a value; adding +0.0 turns it to +0.0 and changes
    nothing else. (masked_fill_ does the same at several times the cost, once per training step.)"""
    param.mul_(keep).add_(0.0)
