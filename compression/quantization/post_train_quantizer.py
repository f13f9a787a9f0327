"""Distiller's `PostTrainLinearQuantizer`, as a Python object: simulate it, then get the real int8 model.

    stats = collect_stats(model, calibration_loader)
    quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), bits_activations=8, bits_parameters=8,
                                         mode="ASYMMETRIC_UNSIGNED", per_channel_wts=True,
                                         model_activation_stats=stats)
    simulated = quantizer.prepare_model(dummy_input)       # FP32 ops computing as int8 would
    int8 = quantizer.convert_to_int8(calibration_images)   # real int8 kernels (x86/onednn)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Union

import torch
from pydantic import ValidationError
from torch import nn

from ..core.errors import UserError
from .int8_backend import Int8Model, convert_to_int8
from .ptq import int8_deployable, layer_plan, module_output_ranges, simulate
from .ptq_config import PostTrainConfig
from .stats import ModuleStats
from .stats_format import check_stats_match_model, read_stats

Stats = Union[str, Path, Dict[str, ModuleStats]]


class PostTrainLinearQuantizer:
    """Range-linear post-training quantization with Distiller's arguments.

    `model_activation_stats` is a stats file (`compressor quantize --collect-stats`, or
    Distiller's) or what `collect_stats` returned. Other keyword arguments are those of the
    schedule's PostTrainLinearQuantizer (mode, per_channel_wts, clip_acts, clip_n_stds,
    clip_half_range, overrides, bits_accum). A bad argument raises UserError.

    >>> quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats="stats.yaml")
    >>> simulated = quantizer.prepare_model(torch.zeros(1, 3, 32, 32))
    """

    def __init__(self, model: nn.Module, bits_activations: int = 8, bits_parameters: int = 8,
                 model_activation_stats: Optional[Stats] = None, **settings: Any):
        try:
            self.config = PostTrainConfig.model_validate(
                {"bits_activations": bits_activations, "bits_parameters": bits_parameters, **settings})
        except ValidationError as err:
            error = err.errors()[0]
            raise UserError(f"PostTrainLinearQuantizer {'.'.join(map(str, error['loc']))}: {error['msg']}") from None
        if model_activation_stats is None:
            raise UserError("PostTrainLinearQuantizer needs model_activation_stats: a stats file or "
                            "what collect_stats(model, loader) returned")
        self.original = model.eval()
        self.model: nn.Module = model
        self.stats = _stats(model_activation_stats)
        check_stats_match_model(self.stats, model)
        self.plan = layer_plan(self.config, model)
        self.linear_quant_params: Dict[str, Any] = {}
        self._output_ranges: Dict[str, Any] = {}

    def prepare_model(self, dummy_input: Optional[torch.Tensor] = None,
                      calibration: Optional[Iterable[torch.Tensor]] = None) -> nn.Module:
        """Build the simulated model (BatchNorm folded, weights and activations rounded to the grid).

        It becomes `self.model` and is returned; the model given is left as it was. The clip modes
        that read the data (MSE, PERCENTILE, KL) need `calibration` batches.
        """
        batches = list(calibration) if calibration is not None else None
        simulated = simulate(self.original, self.config, self.stats, self.plan, batches)
        self.model, self.linear_quant_params = simulated.model, simulated.params
        self._output_ranges = simulated.output_ranges
        return self.model

    def convert_to_int8(self, calibration: Iterable[torch.Tensor], engine: str = "x86") -> Int8Model:
        """The real int8 model (x86 or onednn kernels) with this quantizer's ranges; call it like a module.

        Needs 8-bit weights and activations, and `prepare_model` first. `calibration` (image
        batches) calibrates what the stats do not describe.
        """
        if not int8_deployable(self.plan):
            raise UserError("real int8 kernels need 8-bit weights and activations in every quantized layer")
        if not self.linear_quant_params:
            raise UserError("call prepare_model() before convert_to_int8()")
        batches = [batch[0] if isinstance(batch, (tuple, list)) else batch for batch in calibration]
        if not batches:
            raise UserError("convert_to_int8 needs at least one calibration batch")
        ranges = {**module_output_ranges(self.original, self.config, self.stats), **self._output_ranges}
        fp32_modules = [name for name, layer in self.plan.items() if layer is None]
        model = self.original.cpu()
        return convert_to_int8(model, (batches[0][:1].cpu(),), [batch.cpu() for batch in batches], fp32_modules,
                               self.config.per_channel_wts, ranges, engine)


def _stats(source: Stats) -> Dict[str, ModuleStats]:
    if isinstance(source, (str, Path)):
        return read_stats(source)
    if isinstance(source, dict):
        return source
    raise UserError(f"model_activation_stats must be a stats file path or collect_stats()'s result, "
                    f"not {type(source).__name__}")
