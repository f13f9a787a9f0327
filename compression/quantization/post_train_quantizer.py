"""Distiller's `PostTrainLinearQuantizer`, as a Python object: simulate it, then get the real int8 model.

    stats = collect_stats(model, calibration_loader)
    quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), bits_activations=8, bits_parameters=8,
                                         mode="ASYMMETRIC_UNSIGNED", per_channel_wts=True,
                                         model_activation_stats=stats)
    quantizer.search_clipping(labelled_batches)            # optional: LAPQ, every clip searched together
    simulated = quantizer.prepare_model(dummy_input)       # FP32 ops computing as int8 would
    int8 = quantizer.convert_to_int8(calibration_images)   # real int8 kernels (x86/onednn)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Union

import torch
from pydantic import ValidationError
from torch import nn

from ..core.errors import UserError, validation_message
from ..core.forward import forward_or_refuse
from .int8_backend import Int8Model, convert_to_int8
from .distiller_names import model_graph
from .lapq import lapq
from .lapq_settings import LapqSettings
from .ptq import SimulatedModel, int8_deployable, layer_plan, simulate
from .ptq_config import PostTrainConfig
from .range_report import range_report
from .stats import ModuleStats
from .stats_format import check_stats_match_model, read_stats

Stats = Union[str, Path, Dict[str, ModuleStats]]


class PostTrainLinearQuantizer:
    """Range-linear post-training quantization with Distiller's arguments.

    `model_activation_stats` is a stats file (`compressor quantize --collect-stats`, or
    Distiller's, whose names for torchvision ResNets' relu1/relu2/add are understood) or what
    `collect_stats` returned. Other keyword arguments are those of the schedule's
    PostTrainLinearQuantizer (mode, per_channel_wts, clip_acts, clip_n_stds, clip_half_range,
    overrides with their input_overrides and quantize_inputs, inputs_quant_auto_fallback,
    bits_accum). `bits_activations=None` or `bits_parameters=None` leave that kind of tensor in
    FP32 (overrides may quantize it). A bad argument raises UserError.

    >>> quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats="stats.yaml")
    >>> simulated = quantizer.prepare_model(torch.zeros(1, 3, 32, 32))
    """

    def __init__(self, model: nn.Module, bits_activations: Optional[int] = 8, bits_parameters: Optional[int] = 8,
                 model_activation_stats: Optional[Stats] = None, **settings: Any):
        try:
            self.config = PostTrainConfig.model_validate(
                {"bits_activations": bits_activations, "bits_parameters": bits_parameters, **settings})
        except ValidationError as err:
            error = err.errors()[0]
            where = ".".join(map(str, error["loc"]))
            raise UserError(f"PostTrainLinearQuantizer {where}: {validation_message(error)}") from None
        if model_activation_stats is None:
            raise UserError("PostTrainLinearQuantizer needs model_activation_stats: a stats file or "
                            "what collect_stats(model, loader) returned")
        self.original = model.eval()
        self.model: nn.Module = model
        self.stats = _stats(model_activation_stats)
        graph = model_graph(model)
        check_stats_match_model(self.stats, model, graph)
        self.plan = layer_plan(self.config, model, graph)
        self.linear_quant_params: Dict[str, Any] = {}
        self.simulated: Optional[SimulatedModel] = None
        self._searched_ranges: Optional[Dict[str, Any]] = None

    def prepare_model(self, dummy_input: Optional[torch.Tensor] = None,
                      calibration: Optional[Iterable[torch.Tensor]] = None) -> nn.Module:
        """Build the simulated model (BatchNorm folded, weights and activations rounded to the grid).

        It becomes `self.model` and is returned; the model given keeps its FP32 weights (the quantizer
        put it in eval mode: pass a copy, as Distiller's examples do, to keep training it). The clip modes
        that read the data (MSE, PERCENTILE, KL) need `calibration` batches. `dummy_input`, as in
        Distiller, is checked: the simulated model must run on it.
        """
        batches = list(calibration) if calibration is not None else None
        self.simulated = simulate(self.original, self.config, self.stats, self.plan, batches,
                                  ranges=self._searched_ranges)
        self.model, self.linear_quant_params = self.simulated.model, self.simulated.params
        if dummy_input is not None:
            forward_or_refuse(self.model, dummy_input, "dummy_input")
        return self.model

    def search_clipping(self, batches: Iterable, init_mode: str = "L3", maxiter: int = 2,
                        maxfev: Optional[int] = None, eval_size: Optional[int] = None) -> Dict[str, Any]:
        """LAPQ (Distiller's --qe-lapq): search the weight and activation clips of all layers together
        for the least cross-entropy on `batches` of (images, labels); `prepare_model` and
        `convert_to_int8` then use the clips found. Returns the losses before and after the search.

        >>> quantizer.search_clipping(calibration_loader, maxiter=2)["loss"]
        """
        found = lapq(self.original, self.config, self.stats, self.plan, list(batches),
                     LapqSettings(init_mode, maxiter, maxfev, eval_size))
        self.original, self.config, self.plan = found.model, found.config, found.plan
        self._searched_ranges = found.ranges
        return found.summary()

    def ranges_report(self) -> Dict[str, Any]:
        """How the statistics' ranges were used (after `prepare_model`): `stats_ranges`, `ranges_applied`,
        `ranges_fused` and `unused_ranges` (name -> why)."""
        if self.simulated is None:
            raise UserError("call prepare_model() before ranges_report()")
        return range_report(self.stats, self.simulated.layout)

    def convert_to_int8(self, calibration: Iterable[torch.Tensor], engine: str = "x86") -> Int8Model:
        """The real int8 model (x86 or onednn kernels) with this quantizer's ranges; call it like a module.

        Needs 8-bit weights and activations, and `prepare_model` first. `calibration` (image
        batches) calibrates what the stats do not describe.
        """
        if self.simulated is None:
            raise UserError("call prepare_model() before convert_to_int8()")
        if not int8_deployable(self.simulated.plan):
            raise UserError("real int8 kernels need 8-bit weights and activations in every quantized layer")
        batches = [batch[0] if isinstance(batch, (tuple, list)) else batch for batch in calibration]
        if not batches:
            raise UserError("convert_to_int8 needs at least one calibration batch")
        layout = self.simulated.layout
        model = self.original.cpu()
        return convert_to_int8(model, (batches[0][:1].cpu(),), [batch.cpu() for batch in batches],
                               list(layout.int8_fp32), self.config.per_channel_wts, self.simulated.int8_ranges, engine,
                               self.simulated.input_range)


def _stats(source: Stats) -> Dict[str, ModuleStats]:
    if isinstance(source, (str, Path)):
        return read_stats(source)
    if isinstance(source, dict):
        return source
    raise UserError(f"model_activation_stats must be a stats file path or collect_stats()'s result, "
                    f"not {type(source).__name__}")
