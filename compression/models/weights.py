"""`--weights`: a plain state_dict file (yours, or a torchvision weights enum from the local cache).

Files are read with `torch.load(weights_only=True)`: tensors and plain containers only, so a
file that needs code to load is refused and never run. Accepted layouts: the state_dict itself,
or one wrapped as `{"state_dict": ...}`, `{"model_state_dict": ...}`, `{"model_state": ...}`,
`{"model": ...}`; a `module.` prefix (DataParallel / DDP) is removed.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, Dict, List

import torch
from torch import nn

from ..core.errors import UserError

_WRAPPERS = ("state_dict", "model_state_dict", "model_state", "model")
_ENUM = re.compile(r"^\w+_Weights\.\w+$")
_SHOWN = 5


def load_weights(model: nn.Module, source: str) -> None:
    """Load `source` (a file, or a torchvision enum like `ResNet18_Weights.IMAGENET1K_V1`) into `model`."""
    state = _read(source)
    _check_fits(model, state, source)
    model.load_state_dict(state)


def _read(source: str) -> Dict[str, torch.Tensor]:
    path = Path(source)
    if not path.is_file():
        if _ENUM.match(source):
            path = _cached_enum_file(source)
        else:
            raise UserError(f"weights file not found: {source}")
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{source} needs code to load (refused, nothing of it was run): {first}") from None
    except Exception as err:  # noqa: BLE001  (a truncated or foreign file: every failure means "not weights")
        raise UserError(f"{source} is not a weights file: {type(err).__name__}: {err}") from None
    return _unwrapped(loaded, source)


def _unwrapped(loaded: Any, source: str) -> Dict[str, torch.Tensor]:
    if isinstance(loaded, dict):
        for key in _WRAPPERS:
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise UserError(f"{source} holds no state_dict (a mapping of names to tensors, possibly under one of "
                        f"{', '.join(_WRAPPERS)})")
    if all(key.startswith("module.") for key in loaded):
        loaded = {key[len("module."):]: value for key, value in loaded.items()}
    return loaded


def _check_fits(model: nn.Module, state: Dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [f"{key} {tuple(state[key].shape)} vs the model's {tuple(value.shape)}"
              for key, value in expected.items() if key in state and state[key].shape != value.shape]
    problems = [f"{label}: {_few(items)}" for label, items in
                (("missing", missing), ("unexpected", unexpected), ("shape", shapes)) if items]
    if problems:
        raise UserError(f"{source} does not fit the model ({'; '.join(problems)})")


def _few(items: List[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _cached_enum_file(name: str) -> Path:
    """The local torch.hub cache file of a torchvision weights enum; never downloaded."""
    from torchvision.models import get_weight

    from .torchvision_zoo import weights_path

    try:
        weights = get_weight(name)
    except (ValueError, KeyError, AttributeError) as err:
        raise UserError(f"unknown torchvision weights '{name}': {err}") from None
    path = Path(weights_path(weights))
    if not path.is_file():
        raise UserError(f"{name} is not in the local torch cache (looked for {path}); nothing is downloaded")
    return path
