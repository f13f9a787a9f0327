"""torch.ao's default x86 post-training quantization, called directly (not through compressor): the
reference the PTQ benchmarks compare `compressor quantize` with."""
from __future__ import annotations

from typing import List

import torch

from compressor.compression.quiet import torch_deprecations_silenced


def torch_ao_int8(model: torch.nn.Module, calibration: List[torch.Tensor]) -> torch.nn.Module:
    """`model` (FP32, eval mode) converted by torch.ao's own x86 qconfig mapping, observers calibrated on
    `calibration` (image batches), as torch.ao ships them."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    with torch_deprecations_silenced():
        prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), (calibration[0][:1],))
        with torch.no_grad():
            for images in calibration:
                prepared(images)
        return convert_fx(prepared)
