"""A checkpoint of a model trained in the user's own loop, in the format `compressor train` writes, so that
`evaluate`, `summary`, `quantize`, `export`, `benchmark` and `pack` take it."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import nn

from .core.checkpoint import save_checkpoint
from .core.errors import UserError
from .models import model_info
from .quantization.qat import qat_record
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
    model's output. A model under DataParallel, DistributedDataParallel or torch.compile is saved as
    the module inside. The file is checked before it is written: the model rebuilt from it must hold
    the same weights and compute the same outputs, else UserError and nothing is written.

    >>> compressor.save_checkpoint(model, "runs/mine/model.pt", arch="mynet:build", scheduler=scheduler)
    """
    model = _unwrapped(model)
    shape = model_info(arch, input_shape).input_shape
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    try:
        expected = _outputs(model, example)
    except RuntimeError as err:
        raise UserError(f"the model does not run on an input of shape {tuple(example.shape)} ({arch}'s input "
                        f"shape; give input_shape=(C, H, W) if it takes another): {str(err).splitlines()[0]}") from None
    info = model_info(arch, shape, num_classes or expected.shape[-1])
    payload: Dict[str, Any] = {
        "arch": arch, "num_classes": info.num_classes, "input_shape": list(info.input_shape),
        "dataset": dataset or info.default_dataset,
        "model_state": {name: value.detach().cpu() for name, value in model.state_dict().items()},
        **structure_records(model),
        "qat": qat_record(scheduler.qat_quantizers()) if scheduler is not None else [],
    }
    if scheduler is not None:
        payload["masks"] = scheduler.masks.state_dict()
    _check_rebuilds(payload, arch, example, expected)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(payload, path)
    return path


def _unwrapped(model: nn.Module) -> nn.Module:
    """The user's module inside (Distributed)DataParallel and torch.compile wrappers, whose state dict keys
    carry the wrapper's prefix ('module.', '_orig_mod.') that the rebuilt model has not."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


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
    if expected.shape != got.shape or not torch.allclose(expected, got, rtol=1e-4, atol=1e-5):
        raise UserError(f"the model rebuilt from arch '{arch}' with these weights computes other outputs than "
                        "the model given (is it the same factory, with the same arguments?): nothing written")
