"""`training.compile`: the training steps call the model through torch.compile.

Where compiling fails (at torch.compile, or when a call compiles the forward, also after a
policy changed the model), the step runs the model itself and the failure is reported once;
eager is used from then on.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Optional

import torch
from torch import nn

from ..core.errors import UserError


class CompiledForward:
    """Hands out the module the training steps call: `module` through torch.compile, or `module`
    itself once compiling has failed. `on_failure(message)` is called once, with a one-line message."""

    def __init__(self, on_failure: Callable[[str], None] = lambda message: None):
        self.on_failure = on_failure
        self.failure: Optional[str] = None
        self._wrapped: Optional[_Compiled] = None

    @property
    def compiled(self) -> bool:
        """Whether the steps run compiled (False once compiling failed)."""
        return self.failure is None

    def wrap(self, module: nn.Module) -> nn.Module:
        if self.failure is not None:
            return module
        if self._wrapped is None or self._wrapped.module is not module:
            self._wrapped = _Compiled(module, self)
        return self._wrapped

    def fail(self, err: Exception) -> None:
        if self.failure is None:
            self.failure = f"torch.compile failed ({_one_line(err)}): training continues in eager mode"
            self.on_failure(self.failure)


class _Compiled(nn.Module):
    """`module`'s calls through torch.compile, and through `module` itself after a failure."""

    def __init__(self, module: nn.Module, owner: CompiledForward):
        super().__init__()
        self.module = module
        self._owner = owner
        try:
            compiled = torch.compile(module)
        except Exception as err:  # noqa: BLE001 (any failure of the compiler means eager)
            owner.fail(err)
            compiled = None
        object.__setattr__(self, "_compiled", compiled)  # not a submodule: train()/eval() reach `module` once

    def forward(self, *args, **kwargs):
        if self._compiled is not None and self._owner.failure is None:
            try:
                with _hook_guards():
                    return self._compiled(*args, **kwargs)
            except UserError:
                raise
            except Exception as err:  # noqa: BLE001 (the eager call below computes the same forward)
                self._owner.fail(err)
        return self.module(*args, **kwargs)


def _hook_guards():
    """Hooks added after compiling (activation statistics, QAT's call hooks) make dynamo compile again;
    by default it would not look at them and skip them."""
    import torch._dynamo

    config = torch._dynamo.config
    if not hasattr(config, "skip_nnmodule_hook_guards"):
        return contextlib.nullcontext()
    return config.patch(skip_nnmodule_hook_guards=False)


def _one_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines else ""
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."
