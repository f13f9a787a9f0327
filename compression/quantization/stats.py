"""Activation statistics per leaf module, collected as Distiller's QuantCalibrationStatsCollector does."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Tuple, Union

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ...datasets import DatasetConfig, build_datasets
from ..core.errors import UserError
from ..models import ModelInfo


@dataclass(frozen=True)
class TensorStats:
    """Range and distribution of one tensor (a module's input or output) over the calibration data."""

    min: float
    max: float
    avg_min: float
    avg_max: float
    mean: float
    std: float
    b: float
    shape: Tuple[int, ...]


@dataclass(frozen=True)
class ModuleStats:
    output: TensorStats
    inputs: Dict[int, TensorStats] = field(default_factory=dict)


class _Running:
    """Statistics of the tensors seen so far, combined batch by batch."""

    def __init__(self) -> None:
        self.min, self.max = math.inf, -math.inf
        self.batch_mins: List[float] = []
        self.batch_maxs: List[float] = []
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations from the mean (Chan et al.'s parallel update)
        self.abs_dev = 0.0  # sum over batches of |x - that batch's mean|
        self.shape: Tuple[int, ...] = ()

    def update(self, tensor: torch.Tensor) -> None:
        x = tensor.detach()
        if x.numel() == 0:
            return
        if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        flat = x.reshape(x.shape[0] if x.dim() else 1, -1)
        n = flat.numel()
        batch_mean = flat.sum(dtype=torch.float64) / n
        deviation = flat - batch_mean.to(flat.dtype)
        sample_min, sample_max = _per_sample_extremes(flat)
        values = torch.stack([
            flat.min().double(), flat.max().double(), sample_min.double().mean(), sample_max.double().mean(),
            batch_mean, deviation.square().sum(dtype=torch.float64), deviation.abs().sum(dtype=torch.float64),
        ]).tolist()  # one device sync per tensor
        self._combine(n, *values)
        self.shape = tuple(tensor.shape[1:])

    def _combine(self, n: int, low: float, high: float, avg_low: float, avg_high: float,
                 batch_mean: float, batch_m2: float, batch_abs_dev: float) -> None:
        self.min, self.max = min(self.min, low), max(self.max, high)
        self.batch_mins.append(avg_low)
        self.batch_maxs.append(avg_high)
        total = self.count + n
        delta = batch_mean - self.mean
        self.m2 += batch_m2 + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.abs_dev += batch_abs_dev
        self.count = total

    @property
    def seen(self) -> bool:
        return self.count > 0

    def result(self, images: int) -> TensorStats:
        std = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0
        return TensorStats(min=self.min, max=self.max, avg_min=_average(self.batch_mins),
                           avg_max=_average(self.batch_maxs), mean=self.mean, std=std,
                           b=self.abs_dev / self.count, shape=(images, *self.shape))


def _per_sample_extremes(flat: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    # As Distiller: with one value per sample, per-sample extremes would make avg_min equal
    # avg_max, so the batch's own extremes are used instead.
    if flat.shape[1] == 1:
        return flat.min().reshape(1), flat.max().reshape(1)
    return flat.min(dim=1).values, flat.max(dim=1).values


def _average(values: List[float]) -> float:
    return sum(values) / len(values)


class _ModuleRecord:
    def __init__(self) -> None:
        self.inputs: Dict[int, _Running] = {}
        self.output = _Running()

    def record_inputs(self, _module: nn.Module, inputs: tuple) -> None:
        for index, value in enumerate(inputs):
            if isinstance(value, torch.Tensor):
                self.inputs.setdefault(index, _Running()).update(value)

    def record_output(self, _module: nn.Module, _inputs: tuple, output) -> None:
        if isinstance(output, torch.Tensor):
            self.output.update(output)

    def result(self, images: int) -> ModuleStats:
        inputs = {index: running.result(images) for index, running in sorted(self.inputs.items()) if running.seen}
        return ModuleStats(output=self.output.result(images), inputs=inputs)


def leaf_modules(model: nn.Module) -> Iterable[Tuple[str, nn.Module]]:
    return ((name, module) for name, module in model.named_modules() if next(module.children(), None) is None)


def collect_activation_stats(model: nn.Module, batches: Iterable, device: Union[str, torch.device] = "cpu"
                             ) -> Dict[str, ModuleStats]:
    """Stats of every leaf module's tensor inputs and output over `batches`, keyed by module name.

    Each batch is a tensor of model inputs, or a (inputs, targets, ...) pair as loaders yield.
    Inputs are recorded before the module runs, so in-place modules (ReLU(inplace=True)) report
    their true inputs. The model runs in eval mode without gradients; its mode is restored.
    """
    records = {name: _ModuleRecord() for name, _ in leaf_modules(model)}
    handles = []
    for name, module in leaf_modules(model):
        handles.append(module.register_forward_pre_hook(records[name].record_inputs))
        handles.append(module.register_forward_hook(records[name].record_output))
    was_training = model.training
    model.to(device).eval()
    try:
        images = _run(model, batches, device)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: record.result(images) for name, record in records.items() if record.output.seen}


def _run(model: nn.Module, batches: Iterable, device: Union[str, torch.device]) -> int:
    images = 0
    with torch.no_grad():
        for batch in batches:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(inputs.to(device))
            images += inputs.shape[0]
    if images == 0:
        raise UserError("activation statistics need calibration images: the loader gave none")
    return images


def calibration_loader(info: ModelInfo, config: DatasetConfig, size: int) -> DataLoader:
    """The first `size` images (all, when fewer) of the training split of `config`'s dataset, in order."""
    train = build_datasets(config, info.input_shape, info.num_classes, seed=0).train
    subset = Subset(train, range(min(size, len(train))))
    return DataLoader(subset, batch_size=config.batch_size, num_workers=config.workers, shuffle=False,
                      generator=torch.Generator().manual_seed(0))


def collect_stats(model: nn.Module, loader: Iterable, device: Union[str, torch.device] = "cpu"
                  ) -> Dict[str, ModuleStats]:
    """Activation statistics of every leaf module over `loader` (min, max, mean, std, histogram inputs).

    What `PostTrainLinearQuantizer(model_activation_stats=...)` reads; `save_stats(stats, path)`
    writes Distiller's YAML stats file.

    >>> stats = collect_stats(model, DataLoader(calibration_set, batch_size=64))
    """
    return collect_activation_stats(model, loader, device)
