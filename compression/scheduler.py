"""Calls each policy at the hook points of the epochs it is due (Distiller's semantics)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch

from .pruning.masks import MaskStore
from .policies import LRPolicy, Policy, StepContext
from .schedule.model import PolicySpec


@dataclass
class ScheduledPolicy:
    name: str
    spec: PolicySpec
    policy: Policy


class CompressionScheduler:
    """Policies due in an epoch run in declaration order; lr schedulers step last at epoch end."""

    def __init__(self, scheduled: List[ScheduledPolicy], masks: Optional[MaskStore] = None):
        self.scheduled = list(scheduled)
        self.masks = masks if masks is not None else MaskStore(torch.nn.Module())
        self._due: List[ScheduledPolicy] = []
        self.epoch_losses: Dict[str, torch.Tensor] = {}

    def on_epoch_begin(self, epoch: int) -> None:
        self._due = [item for item in self.scheduled if item.spec.is_due(epoch)]
        self.epoch_losses = {}
        ctx = StepContext(epoch)
        for item in self._due:
            item.policy.on_epoch_begin(ctx)

    def on_step_begin(self, ctx: StepContext) -> None:
        for item in self._due:
            item.policy.on_step_begin(ctx)
        if self.masks.forward_only:
            self.masks.mask_for_forward()

    def before_backward(self, ctx: StepContext, loss: torch.Tensor) -> torch.Tensor:
        for item in self._due:
            extra = item.policy.before_backward(ctx, loss)
            if extra is not None:
                loss = loss + extra
                previous = self.epoch_losses.get(item.name, 0.0)
                self.epoch_losses[item.name] = previous + extra.detach()
        return loss

    def after_optimizer_step(self, ctx: StepContext) -> None:
        """Masks are re-applied after every step, also in epochs where no pruner is due."""
        for item in self._due:
            item.policy.after_optimizer_step(ctx)
        if self.masks.masks:
            self.masks.apply()

    def on_epoch_end(self, epoch: int, metrics: Dict[str, float]) -> None:
        ctx = StepContext(epoch)
        ordered = sorted(self._due, key=lambda item: isinstance(item.policy, LRPolicy))
        for item in ordered:
            item.policy.on_epoch_end(ctx, metrics)

    def mean_policy_losses(self, steps: int) -> Dict[str, float]:
        return {f"{name}_loss": float(total) / max(steps, 1) for name, total in self.epoch_losses.items()}

    def state_dict(self) -> Dict[str, Any]:
        return {self._key(item): item.policy.state_dict() for item in self.scheduled}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for item in self.scheduled:
            if self._key(item) in state:
                item.policy.load_state_dict(state[self._key(item)])

    @staticmethod
    def _key(item: ScheduledPolicy) -> str:
        return f"{item.spec.index}:{item.name}"
