"""Runtime policies: what a component does at each hook point of the training loop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch

from .core.errors import UserError


@dataclass(frozen=True)
class StepContext:
    """The loop's counters, passed to every hook."""

    epoch: int
    step: int = 0
    steps_per_epoch: int = 0


class Policy:
    """No-op hooks; components override the ones they need."""

    def on_epoch_begin(self, ctx: StepContext) -> None:
        pass

    def on_step_begin(self, ctx: StepContext) -> None:
        pass

    def before_backward(self, ctx: StepContext, loss: torch.Tensor) -> Optional[torch.Tensor]:
        """Return an extra loss term to add, or None."""
        return None

    def after_optimizer_step(self, ctx: StepContext) -> None:
        pass

    def on_epoch_end(self, ctx: StepContext, metrics: Dict[str, float]) -> None:
        pass

    def take_notes(self) -> List[str]:
        """What its hooks found since the last call that the user should know, one line each."""
        return []

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


class LRPolicy(Policy):
    """Steps a torch lr scheduler at the end of each epoch the policy is due."""

    def __init__(self, lr_scheduler):
        self.lr_scheduler = lr_scheduler

    def on_epoch_end(self, ctx: StepContext, metrics: Dict[str, float]) -> None:
        if isinstance(self.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if "val_loss" not in metrics:
                given = sorted(metrics) or "none"
                raise UserError("ReduceLROnPlateau steps on the validation loss: pass it to on_epoch_end, e.g. "
                                f"on_epoch_end(epoch, metrics={{'val_loss': val_loss}}) (got {given})")
            self.lr_scheduler.step(metrics["val_loss"])
        else:
            self.lr_scheduler.step()

    def state_dict(self) -> Dict[str, Any]:
        return self.lr_scheduler.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.lr_scheduler.load_state_dict(state)
