"""Every torch.optim.lr_scheduler class by name, plus Distiller's PolynomialLR and MultiStepMultiGammaLR."""
from __future__ import annotations

import inspect
import math
import typing
from typing import List

import torch
from torch.optim import lr_scheduler as torch_schedulers

from .core.components import LR_SCHEDULERS
from .core.signature_config import config_from_fields, signature_fields
from .lr_scheduler_configs import MultiStepMultiGammaConfig, PolynomialConfig

# These take Python callables or scheduler objects, which a YAML schedule cannot express.
_NOT_EXPRESSIBLE = {"LambdaLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler", "LRScheduler",
                    "_LRScheduler", "PolynomialLR"}
_SKIPPED_ARGS = {"self", "optimizer", "last_epoch", "verbose", "scale_fn"}


class MultiStepMultiGammaLR(torch_schedulers.LRScheduler):
    """Multiply the lr by gammas[i] once epoch reaches milestones[i] (Distiller's scheduler)."""

    def __init__(self, optimizer, milestones: List[int], gammas: List[float], last_epoch: int = -1):
        self.milestones = list(milestones)
        self.gammas = list(gammas)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        factor = math.prod(g for m, g in zip(self.milestones, self.gammas) if m <= self.last_epoch)
        return [base_lr * factor for base_lr in self.base_lrs]


def _polynomial(optimizer, T_max=None, total_iters=None, power=1.0):
    return torch_schedulers.PolynomialLR(optimizer, total_iters=T_max or total_iters, power=power)


LR_SCHEDULERS.add("MultiStepMultiGammaLR", MultiStepMultiGammaLR, MultiStepMultiGammaConfig,
                  "Multiply the lr by a different gamma at each milestone epoch.")
LR_SCHEDULERS.add("PolynomialLR", _polynomial, PolynomialConfig,
                  "Decay the lr polynomially to 0 over T_max (or total_iters) epochs.")


def _config_from_signature(cls: type) -> type:
    """A pydantic model whose fields are the constructor's arguments, typed from its annotations."""
    # Iterable/Sequence arguments are read as lists, so a YAML value is checked whole, not lazily.
    namespace = {**vars(typing), **vars(torch_schedulers), "Iterable": List, "Sequence": List}
    try:
        hints = typing.get_type_hints(cls.__init__, namespace)
    except Exception:  # an annotation that does not resolve is checked as Any
        hints = {}
    return config_from_fields(f"{cls.__name__}Config", signature_fields(cls.__init__, hints, _SKIPPED_ARGS))


def _register_torch_schedulers() -> None:
    for name, cls in vars(torch_schedulers).items():
        if not inspect.isclass(cls) or name in _NOT_EXPRESSIBLE or name.startswith("_"):
            continue
        if issubclass(cls, torch_schedulers.LRScheduler) or name == "ReduceLROnPlateau":
            summary = (inspect.getdoc(cls) or name).splitlines()[0]
            LR_SCHEDULERS.add(name, cls, _config_from_signature(cls), summary)


_register_torch_schedulers()


def build_lr_scheduler(spec, optimizer: torch.optim.Optimizer):
    # the values as given (dict(), not model_dump: torch's own defaults, such as min_lr=0 for a float or
    # list of floats, are not of the declared type and serializing them warns)
    return spec.entry.factory(optimizer, **dict(spec.config))
