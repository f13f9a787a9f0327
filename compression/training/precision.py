"""`training.precision` and `training.channels_last`: how the training steps compute.

bf16 and fp16 run the forward and the loss under torch.autocast (the weights, the optimizer and
its state stay FP32); fp16 also scales the loss with torch.amp.GradScaler, whose state goes into
the checkpoint so that --resume continues it. Validation and the run's test evaluation use the
same autocast as training.
"""
from __future__ import annotations

import contextlib
import functools
import warnings
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from ..core.errors import UserError, first_line

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """`autocast()` around forward and loss, `backward_and_step` for the rest of a step, `inputs` for a batch."""

    def __init__(self, name: str = "fp32", device: torch.device = torch.device("cpu"), channels_last: bool = False):
        self.name = name
        self.device_type = torch.device(device).type
        self.channels_last = channels_last
        self.scaler = torch.amp.GradScaler(self.device_type) if name == "fp16" else None

    def autocast(self):
        if self.name not in DTYPES:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=DTYPES[self.name])

    def inputs(self, images: torch.Tensor, device: torch.device) -> torch.Tensor:
        """A batch on `device`; channels-last when the model is."""
        if self.channels_last and images.dim() == 4:
            return images.to(device, non_blocking=True, memory_format=torch.channels_last)
        return images.to(device, non_blocking=True)

    def apply_layout(self, *models: torch.nn.Module) -> None:
        """Channels-last weights in `models` when asked, including layers policies created since (thinned
        or factorized layers, QAT wrappers) and a distillation teacher; a no-op for weights already so."""
        if self.channels_last:
            for model in models:
                model.to(memory_format=torch.channels_last)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)  # unscales the gradients first; skips the step when they overflowed
        self.scaler.update()

    def state_dict(self) -> Dict[str, Any]:
        """The gradient scaler's scale and growth count (fp16); empty otherwise."""
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def build_precision(name: str, device: torch.device, channels_last: bool = False) -> Precision:
    """The precision `name` on `device`; a UserError when the device cannot train in it."""
    if name in DTYPES:
        problem = probe_autocast(name, str(device))
        if problem is not None:
            other = "bf16 or fp32" if name == "fp16" else "fp32"
            raise UserError(f"precision {name}: {device} cannot compute in {name} ({problem}); "
                            f"use --precision {other}")
    return Precision(name, device, channels_last)


@functools.lru_cache(maxsize=None)
def probe_autocast(name: str, device: str) -> Optional[str]:
    """Why `device` cannot run a convolution and a matrix product, forward and backward, under autocast
    in `name`; None when it can. Tried rather than looked up: CPU fp16 depends on the build and the CPU."""
    dtype, target = DTYPES[name], torch.device(device)
    try:
        with warnings.catch_warnings():  # an unsupported autocast dtype warns and computes in FP32
            warnings.simplefilter("ignore")
            weight = torch.ones(2, 1, 3, 3, device=target, requires_grad=True)
            with torch.autocast(target.type, dtype=dtype):
                out = F.conv2d(torch.ones(1, 1, 4, 4, device=target), weight).flatten(1)
                out = out @ torch.ones(out.shape[1], 2, device=target)
            if out.dtype != dtype:
                return f"autocast computed in {out.dtype}"
            out.float().sum().backward()
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as err:
        return first_line(err)
    return None
