"""When a pruner computes masks, and how they are applied (Distiller's PruningPolicy and its args)."""
from __future__ import annotations

from typing import Dict

from ..policies import Policy, StepContext
from .base import PruneStep, Pruner, resolve_per_weight
from .masks import MaskStore


class PruningPolicy(Policy):
    def __init__(self, pruner: Pruner, spec, masks: MaskStore):
        self.pruner = pruner
        self.spec = spec
        self.args = spec.args
        self.masks = masks
        levels = spec.args.levels
        self.levels = resolve_per_weight(levels, pruner.context) if levels is not None else None

    def on_epoch_begin(self, ctx: StepContext) -> None:
        self.pruner.epoch_begins()
        if self.args.mask_gradients:
            self.masks.mask_gradients(self.pruner.weights)
        if not self.pruner.decides_at_epoch_end:
            self._update_masks(ctx.epoch)

    def on_step_begin(self, ctx: StepContext) -> None:
        frequency = self.args.mini_batch_pruning_frequency
        if not frequency:
            return
        global_step = ctx.epoch * ctx.steps_per_epoch + ctx.step
        if global_step % frequency == 0 and not (self.args.skip_first_minibatch and global_step == 0):
            self._update_masks(ctx.epoch)

    def after_optimizer_step(self, ctx: StepContext) -> None:
        if self.args.discard_masks_at_minibatch_end:
            self.masks.remove(self.pruner.weights)

    def on_epoch_end(self, ctx: StepContext, metrics: Dict[str, float]) -> None:
        if self.pruner.decides_at_epoch_end:
            self._update_masks(ctx.epoch)
        if ctx.epoch == self.spec.epochs[-1] and self.args.keep_mask:
            self.masks.harden(self.pruner.weights)

    def _update_masks(self, epoch: int) -> None:
        step = PruneStep(epoch, self.spec.epochs, self.levels, self.args.fold_batchnorm)
        forward_only = self.args.mask_on_forward_only or self.args.use_double_copies
        for name, keep in self.pruner.compute_masks(step).items():
            self.masks.set(name, keep, forward_only=forward_only)
        if not forward_only:
            self.masks.apply()

    def state_dict(self):
        return self.pruner.state_dict() if hasattr(self.pruner, "state_dict") else {}

    def load_state_dict(self, state) -> None:
        if hasattr(self.pruner, "load_state_dict"):
            self.pruner.load_state_dict(state)
