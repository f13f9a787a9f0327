"""One forward pass of a user's model on an example input, its failure said as the user's mistake."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .errors import UserError, first_line


def forward_or_refuse(model: nn.Module, example: torch.Tensor, what: str, hint: str = "") -> Any:
    """`model(example)` without gradients; a forward that fails (a shape the model does not take, another
    channel count) is a UserError: the model does not run on `what` of the example's shape, torch's first
    line, then `hint`."""
    try:
        with torch.no_grad():
            return model(example)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001  (a model's forward may raise anything)
        raise UserError(f"the model does not run on {what} of shape {tuple(example.shape)}: "
                        f"{type(err).__name__}: {first_line(err)}{hint}") from None
