"""The cost `auto` drives down, as a ratio to the dense model's: MACs, parameters, weights file, latency."""
from __future__ import annotations

import copy
from typing import Callable, Dict, Sequence

import torch
from torch import nn

from ..benchmark import measure_latency
from ..report import state_dict_bytes
from ..summary import count_macs
from ..thinning.plan import count_parameters
from .auto_config import LatencyOptions


def macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    return sum(count_macs(model, input_shape).values())


_ABSOLUTE: Dict[str, Callable[[nn.Module, Sequence[int]], int]] = {
    "macs": macs,
    "params": lambda model, _: count_parameters(model),
    "size": lambda model, _: state_dict_bytes(model),
}


def absolute_costs(model: nn.Module, input_shape: Sequence[int]) -> Dict[str, int]:
    """The costs that do not need a clock: MACs for one image, parameters, bytes of the saved state_dict."""
    return {kind: cost(model, input_shape) for kind, cost in _ABSOLUTE.items()}


class CostMeter:
    """`ratio(model)`: the model's cost / the dense model's. Latency is the median of runs interleaved
    with the dense model's (as `compressor benchmark` measures), so a change in the machine's load
    hits both."""

    def __init__(self, kind: str, dense: nn.Module, input_shape: Sequence[int], device: torch.device,
                 latency: LatencyOptions = LatencyOptions()):
        self.kind = kind
        self.input_shape = tuple(input_shape)
        self.device = device
        self.latency = latency
        self._dense = copy.deepcopy(dense).eval()
        self._dense_cost = None if kind == "latency" else _ABSOLUTE[kind](dense, input_shape)

    def ratio(self, model: nn.Module) -> float:
        if self.kind == "latency":
            return self._latency_ratio(model)
        return _ABSOLUTE[self.kind](model, self.input_shape) / self._dense_cost

    def _latency_ratio(self, model: nn.Module) -> float:
        options = self.latency
        results = measure_latency({"dense": self._dense, "candidate": model}, self.input_shape,
                                  batch_size=options.batch_size, warmup=options.warmup, repeats=options.repeats,
                                  device=self.device)
        return results["candidate"].median_ms / results["dense"].median_ms
