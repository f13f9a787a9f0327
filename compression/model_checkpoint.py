"""A checkpoint of a model trained in the user's own loop, in the format `compressor train` writes, so that
`evaluate`, `summary`, `quantize`, `export`, `benchmark` and `pack` take it."""
from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from .core.checkpoint import save_checkpoint
from .core.errors import UserError
from .core.forward import forward_or_refuse
from .models import model_info
from .quantization.qat import carries_quantizers, qat_record
from .restore import model_from_checkpoint
from .structure_state import structure_records


def save_model_checkpoint(model: nn.Module, path: Union[str, Path], arch: str, scheduler: Any = None,
                          input_shape: Optional[Sequence[int]] = None, num_classes: Optional[int] = None,
                          dataset: Optional[str] = None) -> Path:
    """Write `model` as a compressor checkpoint that every command can rebuild, and return the path.

    `arch` is how to build the model again: a built-in or torchvision name, `timm/<name>`, or
    `package.module:factory` (importable where the commands run). `scheduler` (the
    CompressionScheduler of your loop) adds its QAT quantizers and pruning masks; thinned,
    factorized and folded layers are recorded from the model. `input_shape` (C, H, W) and
    `dataset` default to what the factory or the registry says, `num_classes` to the size of the
    model's output. A model under DataParallel, DistributedDataParallel, AveragedModel (EMA, SWA) or
    torch.compile is saved as the module inside. The file is checked before it is written: the
    weights the scheduler's masks prune must be zero, and the model rebuilt from it must hold the
    same weights and compute the same outputs, else UserError and nothing is written.

    >>> compressor.save_checkpoint(model, "runs/mine/model.pt", arch="mynet:build", scheduler=scheduler)
    """
    if scheduler is None and carries_quantizers(model):
        raise UserError("the model carries QAT quantizers: pass scheduler= (the CompressionScheduler that installed "
                        "them) so that they are recorded, else no command could rebuild it")
    levels = _wrapper_levels(model)
    model = levels[-1][0]
    shape = _input_shape(arch, input_shape)
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    with scheduler.masks.forward_masked() if scheduler is not None else contextlib.nullcontext():
        expected = _logits(model, example, arch)  # the file describes the masked model (see restore.py)
    info = model_info(arch, shape, num_classes or expected.shape[-1])
    payload: Dict[str, Any] = {
        "arch": arch, "num_classes": info.num_classes, "input_shape": list(info.input_shape),
        "dataset": dataset or info.default_dataset,
        "model_state": {name: value.detach().cpu() for name, value in model.state_dict().items()},
        **_structure_records(levels),
        "qat": qat_record(scheduler.qat_quantizers()) if scheduler is not None else [],
    }
    if scheduler is not None:
        payload["masks"] = _masks_inside(scheduler, levels)
        _check_masks_hold(model, payload["masks"])
    _check_rebuilds(payload, arch, example, expected)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(payload, path)
    return path


def _wrapper_levels(model: nn.Module) -> List[Tuple[nn.Module, str]]:
    """The model and each module inside its (Distributed)DataParallel, AveragedModel and torch.compile wrappers,
    outermost first, each with the prefix its names carry from the wrappers around it ('module.', '_orig_mod.')."""
    levels = [(model, "")]
    while True:
        outer, prefix = levels[-1]
        if isinstance(outer, (nn.DataParallel, nn.parallel.DistributedDataParallel, AveragedModel)):
            levels.append((outer.module, prefix + "module."))
        elif isinstance(getattr(outer, "_orig_mod", None), nn.Module):
            levels.append((outer._orig_mod, prefix + "_orig_mod."))
        else:
            return levels


def _structure_records(levels: List[Tuple[nn.Module, str]]) -> Dict[str, Any]:
    """The changed layers' records, named as in the module inside: a scheduler built on a wrapper recorded
    them on the wrapper, under the wrapper's names."""
    for module, prefix in reversed(levels):
        records = structure_records(module)
        if any(records.values()):
            return _renamed_records(records, _unprefixer(levels[-1][1][len(prefix):]))
    return structure_records(levels[-1][0])


def _renamed_records(records: Dict[str, Any], rename: Callable[[str], str]) -> Dict[str, Any]:
    return {"thinning": [{**op, "layer": rename(op["layer"])} for op in records["thinning"]],
            "factorization": [{**step, "layer": rename(step["layer"])} for step in records["factorization"]],
            "folded_batchnorm": {rename(conv): rename(bn) for conv, bn in records["folded_batchnorm"].items()}}


def _masks_inside(scheduler: Any, levels: List[Tuple[nn.Module, str]]) -> Dict[str, Any]:
    """The masks' state, named as in the module inside (a scheduler built on a wrapper names them as it)."""
    state = scheduler.masks.state_dict()
    built_on = getattr(scheduler.context, "model", None)
    prefix = next((prefix for module, prefix in levels if module is built_on), levels[-1][1])
    rename = _unprefixer(levels[-1][1][len(prefix):])
    return {"masks": {rename(name): mask for name, mask in state.get("masks", {}).items()},
            "forward_only": [rename(name) for name in state.get("forward_only", [])]}


def _check_masks_hold(model: nn.Module, masks: Dict[str, Any]) -> None:
    """A hard mask's zeros are in the model the scheduler masks; another copy (an EMA of the weights) is not the
    pruned model, and a file of it with these masks would change as soon as a command applied them."""
    params = dict(model.named_parameters())
    for name, keep in masks["masks"].items():
        param = params.get(name)
        if name in masks["forward_only"] or param is None or param.shape != keep.shape:
            continue
        alive = int((param.detach()[~keep.to(param.device)] != 0).sum())
        if alive:
            raise UserError(f"{name} has {alive} non-zero weights where the scheduler's mask prunes them: this is "
                            "not the model the scheduler masks (an EMA or other copy of it?). Pass that model, or "
                            f"zero them first (weight.data.mul_(scheduler.masks.get('{name}'))): nothing written")


def _unprefixer(prefix: str) -> Callable[[str], str]:
    return lambda name: name[len(prefix):] if name.startswith(prefix) else name


def _input_shape(arch: str, input_shape: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """The (C, H, W) given, else the factory's; the registry's advice reworded for this function's argument."""
    try:
        return model_info(arch, input_shape).input_shape
    except UserError as err:
        raise UserError(str(err).replace("give --input-size C,H,W", "pass input_shape=(C, H, W)")) from None


def _logits(model: nn.Module, example: torch.Tensor, arch: str) -> torch.Tensor:
    """The model's outputs on `example`, which must be one tensor, the logits."""
    output = forward_or_refuse(copy.deepcopy(model).cpu().eval(), example, "an input",
                               f" ({arch}'s input shape: give input_shape=(C, H, W) if it takes another)")
    if not isinstance(output, torch.Tensor):
        raise UserError(f"the model returns a {type(output).__name__}; it must return its logits, one tensor of "
                        f"shape (batch, classes), for the commands to use it: nothing written")
    return output


def _outputs(model: nn.Module, example: torch.Tensor) -> torch.Tensor:
    """What the model computes on `example` in eval mode, on the CPU (a copy: the user's model is left as it is)."""
    with torch.no_grad():
        return copy.deepcopy(model).cpu().eval()(example)


def _check_rebuilds(payload: Dict[str, Any], arch: str, example: torch.Tensor, expected: torch.Tensor) -> None:
    try:
        rebuilt, _ = model_from_checkpoint(payload)
    except UserError as err:
        raise UserError(f"the model does not rebuild from arch '{arch}', so no command could load the file: "
                        f"{err}") from None
    got = _outputs(rebuilt, example)
    same = isinstance(got, torch.Tensor) and expected.shape == got.shape
    if not same or not torch.allclose(expected, got, rtol=1e-4, atol=1e-5):
        raise UserError(f"the model rebuilt from arch '{arch}' with these weights computes other outputs than "
                        "the model given (is it the same factory, with the same arguments?): nothing written")
