"""The training loss of a model with early exits (Distiller's --earlyexit_lossweights).

loss = sum_i weight_i * CE(exit_i, labels) + (1 - sum_i weight_i) * final loss
The final loss is what the run would use without exits: cross-entropy, or the distillation loss
of a `distillation:` section. The exits' logits are captured from the training forward itself.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import nn

from ..distillation import TrainingLoss
from ..models.exits import ExitCapture


class EarlyExitLoss(TrainingLoss):
    """`weights`: one per early exit of `model` (the plain module being trained), summing to less than 1."""

    def __init__(self, weights: Sequence[float], model: nn.Module, final: TrainingLoss):
        super().__init__()
        self.weights = list(weights)
        self.final = final
        self.capture = ExitCapture(model)

    def __call__(self, images: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor,
                 epoch: int) -> torch.Tensor:
        exits = self.capture.take()
        if len(exits) != len(self.weights):
            raise RuntimeError(f"{len(exits)} early exits ran in the training forward, {len(self.weights)} expected")
        final = self.final(images, outputs, targets, epoch)
        self._add("final_exit_loss", final)
        total = (1.0 - sum(self.weights)) * final
        for index, (weight, logits) in enumerate(zip(self.weights, exits)):
            loss = self.criterion(logits, targets)
            self._add(f"exit{index}_loss", loss)
            total = total + weight * loss
        return total

    def epoch_components(self, steps: int) -> Dict[str, float]:
        return {**self.final.epoch_components(steps), **super().epoch_components(steps)}
