"""A model given by import path, `package.module:factory`: the user's own nn.Module in every command.

The factory is any callable returning an nn.Module (a class or a function). What the registry
knows of a built-in model comes from attributes of the factory:

    class Net(nn.Module):
        input_shape = (1, 8, 8)      # (C, H, W) of one input; else --input-size must say it
        num_classes = 10             # optional: else --num-classes, else the out_features of the last Linear
        default_dataset = "digits"   # optional: else the schedule or --dataset must name one

`num_classes=` is passed when the factory accepts it. The module is imported as `python -m`
would (the current folder first on the path), so `--arch examples.own_model:Net` works from the
project folder; checkpoints record the path, so later commands rebuild the same model.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Dict

from ..core.errors import UserError
from ..core.registry import Entry

if TYPE_CHECKING:  # torch loads with the user's model, not when a schedule naming it is checked
    from torch import nn

_ENTRIES: Dict[str, Entry] = {}


def is_import_path(name: str) -> bool:
    return ":" in name


def imported_entry(path: str) -> Entry:
    """The registry entry of `package.module:factory` (imported once per process)."""
    if path not in _ENTRIES:
        factory = _import(path)
        num_classes = getattr(factory, "num_classes", None)
        # read from the model only when no --num-classes says it: building it may be costly
        extra = {"input_shape": _input_shape(path, factory), "default_dataset": getattr(factory, "default_dataset", ""),
                 "num_classes": num_classes if num_classes is not None else partial(_last_linear_classes, path, factory)}
        description = next(iter((factory.__doc__ or "").strip().splitlines()), f"imported from {path}")
        _ENTRIES[path] = Entry(path, partial(_build, path, factory), _NoConfig, description, extra)
    return _ENTRIES[path]


class _NoConfig:  # imported models take no schedule arguments
    model_fields: Dict[str, Any] = {}


def _import(path: str) -> Callable[..., Any]:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise UserError(f"--arch {path}: an import path is package.module:factory")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current folder, as `python -m` has it
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001  (the user's module failed to import, however it failed)
        raise UserError(f"--arch {path}: cannot import {module_name}: {type(err).__name__}: {err}") from None
    factory = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise UserError(f"--arch {path}: {module_name} has no attribute '{attribute}'")
    if not callable(factory):
        raise UserError(f"--arch {path}: '{attribute}' is not callable (a class or function returning an nn.Module)")
    return factory


def _build(path: str, factory: Callable[..., Any], num_classes: int, pretrained: bool = False) -> nn.Module:
    from torch import nn

    if pretrained:
        raise UserError(f"model '{path}' is imported and has no pretrained weights here; use --weights FILE")
    try:
        model = factory(num_classes=num_classes) if _accepts_num_classes(factory) else factory()
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001  (the user's factory failed, however it failed)
        raise UserError(f"--arch {path}: calling it failed: {type(err).__name__}: {err}") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"--arch {path}: returned {type(model).__name__}, not a torch.nn.Module")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not _accepts_num_classes(factory) and linears and linears[-1].out_features != num_classes:
        raise UserError(f"--arch {path}: {num_classes} classes asked for, but the factory takes no num_classes "
                        f"argument and its model has {linears[-1].out_features}")
    return model


def _accepts_num_classes(factory: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "num_classes" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _input_shape(path: str, factory: Any):
    """The factory's `input_shape`, None when it has none (then --input-size must say it)."""
    shape = getattr(factory, "input_shape", None)
    if shape is None:
        return None
    if (not isinstance(shape, (tuple, list)) or len(shape) != 3
            or not all(isinstance(side, int) and side > 0 for side in shape)):
        raise UserError(f"--arch {path}: set `input_shape = (C, H, W)` on {path.partition(':')[2]} "
                        f"(the shape of one input image), found {shape!r}")
    return tuple(shape)


def _last_linear_classes(path: str, factory: Callable[..., Any]) -> int:
    """The out_features of the last Linear of the model built with the factory's defaults."""
    from torch import nn

    try:
        model = factory()
    except Exception:  # noqa: BLE001  (it needs arguments: the class count cannot be read this way)
        model = None
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)] if isinstance(model, nn.Module) else []
    if not linears:
        raise UserError(f"--arch {path}: set `num_classes = N` on {path.partition(':')[2]} or give --num-classes N "
                        f"(it could not be read from a final Linear layer)")
    return linears[-1].out_features
