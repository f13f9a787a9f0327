"""Which layers a LowRankFactorizer replaces, and how: `layers:` (or the default), then `overrides:`."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from torch import nn

from ..core.errors import UserError
from .layers import FactorizedLayer

LAYER_TYPES = (nn.Conv2d, nn.Linear)
NEEDS_KERNEL = ("spatial_svd", "tucker2")


@dataclass(frozen=True)
class Target:
    """One layer to factorize: its name, the module, the method and the settings that choose its rank."""

    name: str
    module: nn.Module
    method: str
    choice: Any  # a RankChoice: the override's if it gives a rank criterion, else the factorizer's


@dataclass
class Selection:
    targets: List[Target]
    skipped: List[Dict[str, str]]  # {"layer": name, "reason": why it is left alone}


def matches(pattern: str, name: str) -> bool:
    """Anchored, as Distiller's regexes are; DataParallel's 'module.' prefix is optional."""
    return any(re.fullmatch(pattern, candidate) for candidate in (name, f"module.{name}"))


def factorizable_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """(name, module) of every Conv2d and Linear layer, but the parts of layers already factorized."""
    inside = [name for name, module in model.named_modules() if isinstance(module, FactorizedLayer)]
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, LAYER_TYPES) and not any(name.startswith(f"{outer}.") for outer in inside)]


def factorized_layers(model: nn.Module) -> List[str]:
    return [name for name, module in model.named_modules() if isinstance(module, FactorizedLayer)]


def select_layers(model: nn.Module, config) -> Selection:
    """The layers `config` (LowRankFactorizerConfig) factorizes, in module order; UserError for a pattern
    that names no layer or a layer that cannot take its method."""
    layers = factorizable_layers(model)
    _check_patterns(config, [name for name, _ in layers] + factorized_layers(model))
    selection = Selection([], [])
    for name, module in layers:
        pattern, override = _override(config, name)
        if pattern is not None and override is None:
            selection.skipped.append({"layer": name, "reason": f"overrides: '{pattern}' is null"})
        elif override is not None or _included(config, name, module):
            _add(selection, name, module, config, override)
    return selection


def _check_patterns(config, names: List[str]) -> None:
    for where, patterns in (("layers", config.layers or []), ("overrides", config.overrides)):
        for pattern in patterns:
            if not any(matches(pattern, name) for name in names):
                shown = ", ".join(names) if names else "none"
                raise UserError(f"{where}: '{pattern}' matches no Conv2d or Linear layer of the model "
                                f"(layers: {shown})")


def _override(config, name: str) -> Tuple[Optional[str], Any]:
    """The first override matching `name`: (pattern, its settings or None); (None, None) if none does."""
    for pattern, override in config.overrides.items():
        if matches(pattern, name):
            return pattern, override
    return None, None


def _included(config, name: str, module: nn.Module) -> bool:
    if config.layers is not None:
        return any(matches(pattern, name) for pattern in config.layers)
    return isinstance(module, nn.Linear) or tuple(module.kernel_size) != (1, 1)


def _add(selection: Selection, name: str, module: nn.Module, config, override) -> None:
    method = _method(name, module, config, override)
    if isinstance(module, nn.Conv2d) and module.groups > 1:
        reason = (f"a grouped conv (groups={module.groups}): low-rank factorization replaces dense layers only")
        if override is not None:
            raise UserError(f"cannot factorize layer '{name}': it is {reason}")
        selection.skipped.append({"layer": name, "reason": reason})
        return
    choice = override if override is not None and override.criteria() else config
    selection.targets.append(Target(name, module, method, choice))


def _method(name: str, module: nn.Module, config, override) -> str:
    asked = override.method if override is not None and override.method else None
    if isinstance(module, nn.Linear):
        if asked in NEEDS_KERNEL:
            raise UserError(f"cannot factorize Linear layer '{name}' with {asked}: it factorizes a conv's kernel; "
                            "a Linear layer takes svd")
        return "svd"
    method = asked or config.method
    if method in NEEDS_KERNEL and tuple(module.kernel_size) == (1, 1):
        raise UserError(f"cannot factorize 1x1 conv '{name}' with {method}: it has no spatial kernel to split; "
                        f"use method svd for it (overrides: {{'{name}': {{method: svd}}}}) or leave it out")
    return method

