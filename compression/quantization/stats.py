"""Activation statistics per operation, collected as Distiller's QuantCalibrationStatsCollector does."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Tuple, Union

import torch
from torch import fx, nn
from torch.utils.data import DataLoader, Subset

from ...datasets import DatasetConfig, build_datasets
from ..core.errors import UserError
from ..models import ModelInfo
from .distiller_names import ModelGraph, Operation, model_graph


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
    """Stats of every operation's tensor inputs and output over `batches`, keyed by Distiller's names.

    An operation is a leaf module, named as the module; on a torchvision ResNet each call of a block's
    `relu` is its own (`relu1`, `relu2`, ...) and so is the block's residual addition (`add`, inputs 0
    and 1), as in Distiller's stats files of those models. Each batch is a tensor of model inputs, or a
    (inputs, targets, ...) pair as loaders yield. Inputs are recorded before the operation runs, so
    in-place ones (ReLU(inplace=True)) report their true inputs. The model runs in eval mode without
    gradients; its mode is restored.
    """
    graph = model_graph(model)
    if graph.graph is not None and graph.aliases():
        return _collect_by_operation(model, graph, batches, device)
    return collect_module_stats(model, batches, device)


def collect_module_stats(model: nn.Module, batches: Iterable, device: Union[str, torch.device] = "cpu"
                         ) -> Dict[str, ModuleStats]:
    """Stats of every leaf module, keyed by module name (a module called several times: all its calls)."""
    records = {name: _ModuleRecord() for name, _ in leaf_modules(model)}
    handles = []
    for name, module in leaf_modules(model):
        handles.append(module.register_forward_pre_hook(records[name].record_inputs))
        handles.append(module.register_forward_hook(records[name].record_output))
    try:
        images = _in_eval_mode(model, model, batches, device)
    finally:
        for handle in handles:
            handle.remove()
    return {name: record.result(images) for name, record in records.items() if record.output.seen}


class _OperationRecorder(fx.Interpreter):
    """Runs the traced graph, recording the inputs and output of each node that is one of the operations."""

    def __init__(self, module: fx.GraphModule, operations: Dict[str, Operation], records: Dict[str, _ModuleRecord]):
        super().__init__(module)
        self.operations, self.records = operations, records

    def run_node(self, node: fx.Node):
        op = self.operations.get(node.name)
        if op is None:
            return super().run_node(node)
        record = self.records[op.name]
        args, _ = self.fetch_args_kwargs_from_env(node)
        record.record_inputs(None, tuple(args))
        result = super().run_node(node)
        record.record_output(None, (), result)
        return result


def _collect_by_operation(model: nn.Module, graph: ModelGraph, batches: Iterable,
                          device: Union[str, torch.device]) -> Dict[str, ModuleStats]:
    records = {op.name: _ModuleRecord() for op in graph.operations}
    recorder = _OperationRecorder(fx.GraphModule(model, graph.graph), graph.by_node(), records)
    images = _in_eval_mode(model, recorder.run, batches, device)
    return {name: record.result(images) for name, record in records.items() if record.output.seen}


def _in_eval_mode(model: nn.Module, forward, batches: Iterable, device: Union[str, torch.device]) -> int:
    was_training = model.training
    model.to(device).eval()
    try:
        return _run(forward, batches, device)
    finally:
        model.train(was_training)


def _run(forward, batches: Iterable, device: Union[str, torch.device]) -> int:
    images = 0
    with torch.no_grad():
        for batch in batches:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            forward(inputs.to(device))
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
