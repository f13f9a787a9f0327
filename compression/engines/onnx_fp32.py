"""The FP32 model as an ONNX file (batch dimension dynamic, input `input`, output `output`)."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import torch
from torch import nn

from ..quiet import stdout_discarded, torch_deprecations_silenced

OPSET = 17


def save_fp32_onnx(model: nn.Module, batch: torch.Tensor, path: Union[str, Path]) -> None:
    with torch_deprecations_silenced(), stdout_discarded(), torch.no_grad():
        torch.onnx.export(model, (batch,), str(path), opset_version=OPSET, dynamo=False,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
