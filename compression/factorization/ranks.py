"""A layer's ranks from its factorization settings: given, a fraction of full rank, an energy, or a MACs budget."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import torch
from torch import nn

from ..core.errors import UserError
from .decompose import full_ranks, singular_values


@dataclass(frozen=True)
class Geometry:
    """Where a layer computes for one input: its input and output (height, width); a Linear layer's
    rows are its height (1 for a flat input)."""

    input_size: Tuple[int, int]
    output_size: Tuple[int, int]


def layer_macs(layer: nn.Module, geometry: Geometry) -> int:
    if isinstance(layer, nn.Linear):
        return geometry.input_size[0] * layer.in_features * layer.out_features
    kh, kw = layer.kernel_size
    return _area(geometry.output_size) * layer.out_channels * (layer.in_channels // layer.groups) * kh * kw


def factorized_macs(layer: nn.Module, method: str, ranks: List[int], geometry: Geometry) -> int:
    """MACs of the factorized layer (FactorizedLayer's parts, in order) for one input."""
    if isinstance(layer, nn.Linear):
        return geometry.input_size[0] * ranks[0] * (layer.in_features + layer.out_features)
    c_in, c_out, (kh, kw) = layer.in_channels, layer.out_channels, layer.kernel_size
    out = _area(geometry.output_size)
    if method == "svd":
        return out * ranks[0] * (c_in * kh * kw + c_out)
    if method == "spatial_svd":  # the kh x 1 conv keeps the input's width
        between = geometry.output_size[0] * geometry.input_size[1]
        return between * ranks[0] * c_in * kh + out * c_out * ranks[0] * kw
    r1, r2 = ranks
    return _area(geometry.input_size) * c_in * r1 + out * r1 * r2 * kh * kw + out * r2 * c_out


def _area(size: Tuple[int, int]) -> int:
    return size[0] * size[1]


def choose_ranks(name: str, layer: nn.Module, method: str, choice, geometry: Optional[Geometry]) -> List[int]:
    """The ranks `choice` (a RankChoice) gives the layer: one per matrix the method factorizes."""
    full = full_ranks(layer, method)
    if choice.rank is not None:
        return _given(name, method, choice.rank, full)
    if choice.rank_ratio is not None:
        return [max(1, round(choice.rank_ratio * rank)) for rank in full]
    if choice.energy is not None:
        return [_rank_for_energy(values, choice.energy) for values in singular_values(layer, method)]
    if geometry is None:
        raise UserError(f"layer '{name}': macs_ratio needs the layer's input size, and the layer took no input "
                        "when the model ran on one (is it used in forward?)")
    budget = choice.macs_ratio * layer_macs(layer, geometry)
    return _within_budget(name, full, budget, lambda ranks: factorized_macs(layer, method, ranks, geometry))


def _given(name: str, method: str, rank, full: List[int]) -> List[int]:
    ranks = list(rank) if isinstance(rank, (list, tuple)) else [rank] * len(full)
    if len(ranks) != len(full):
        raise UserError(f"layer '{name}': rank {rank} is a pair, which only tucker2 takes ({method} takes one rank)")
    for given, largest in zip(ranks, full):
        if given > largest:
            raise UserError(f"layer '{name}': rank {given} is larger than {method} allows for it (at most {largest})")
    return ranks


def _rank_for_energy(values: torch.Tensor, energy: float) -> int:
    """The fewest singular values whose squares keep `energy` of the total."""
    squares = values.double() ** 2
    kept = torch.cumsum(squares, 0) / squares.sum().clamp_min(torch.finfo(torch.float64).tiny)
    reached = torch.nonzero(kept >= energy - 1e-12)
    return int(reached[0]) + 1 if len(reached) else len(values)


def _within_budget(name: str, full: List[int], budget: float, macs: Callable[[List[int]], int]) -> List[int]:
    """The largest ranks, scaled together, whose MACs stay within `budget` (MACs grow with every rank)."""
    steps = max(full)
    best = None
    for step in range(1, steps + 1):
        ranks = [max(1, round(step * rank / steps)) for rank in full]
        if macs(ranks) > budget:
            break
        best = ranks
    if best is None:
        lowest = [1] * len(full)
        raise UserError(f"layer '{name}': no rank meets macs_ratio: at rank {lowest if len(full) > 1 else 1} it "
                        f"already has {macs(lowest)} MACs, more than the {budget:.0f} allowed; leave the layer "
                        f"out (overrides: {{'{name}': null}}) or raise macs_ratio")
    return best
