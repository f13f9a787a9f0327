"""The FP32 model as an ONNX file (batch dimension dynamic, input `input`, output `output`)."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import torch
from torch import nn

from ..core.errors import UserError, first_line
from ..quiet import stdout_discarded, torch_deprecations_silenced

OPSET = 17


def save_fp32_onnx(model: nn.Module, batch: torch.Tensor, path: Union[str, Path]) -> None:
    """Write the file; a model torch cannot export (an op with no ONNX form) raises UserError."""
    with torch_deprecations_silenced(), stdout_discarded(), torch.no_grad():
        try:
            torch.onnx.export(model, (batch,), str(path), opset_version=OPSET, dynamo=False,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        except Exception as err:  # noqa: BLE001  (the exporter fails in many ways; all mean "no ONNX form")
            raise UserError(f"the model cannot be written as ONNX: {first_line(err)}") from None
