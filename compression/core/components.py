"""One registry per kind of schedule component, keyed by the schedule section name.

A pruner, quantizer, regularizer or extension factory is called as
`factory(config, context)` with a BuildContext and returns a component whose
`policy(spec)` gives the runtime Policy for one `policies:` item.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Tuple

from .errors import UserError
from .registry import Registry

if TYPE_CHECKING:  # the registries are read without torch when a schedule is checked
    import torch
    from torch import nn


@dataclass
class BuildContext:
    """What components may hold on to: the model, its optimizer, the shared masks, the input shape."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    masks: Any  # pruning.masks.MaskStore
    input_shape: Tuple[int, ...]
    device: torch.device

    def example_input(self, needed_by: str) -> "torch.Tensor":
        """A zero batch of one input, for components that trace the model; without an input shape, a UserError
        saying how to give one (a loop of your own builds its scheduler without one unless told)."""
        if not self.input_shape:
            raise UserError(f"{needed_by} traces the model and needs its input shape: build the scheduler with "
                            "input_shape=(C, H, W), e.g. CompressionScheduler.from_yaml(path, model, optimizer, "
                            "input_shape=(3, 224, 224))")
        import torch

        return torch.zeros(1, *self.input_shape, device=self.device)

PRUNERS = Registry("pruner class", "pruners")
QUANTIZERS = Registry("quantizer class", "quantizers")
REGULARIZERS = Registry("regularizer class", "regularizers")
LR_SCHEDULERS = Registry("lr_scheduler class", "lr_schedulers")
EXTENSIONS = Registry("extension class", "extensions")

# schedule section -> (policy key, registry)
COMPONENT_SECTIONS = {
    "pruners": ("pruner", PRUNERS),
    "quantizers": ("quantizer", QUANTIZERS),
    "regularizers": ("regularizer", REGULARIZERS),
    "lr_schedulers": ("lr_scheduler", LR_SCHEDULERS),
    "extensions": ("extension", EXTENSIONS),
}
POLICY_KEYS = {policy_key: section for section, (policy_key, _) in COMPONENT_SECTIONS.items()}
