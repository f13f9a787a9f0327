"""Early exits (BranchyNet): classifier branches that read a model's trunk part-way.

A `BranchPoint` stands in for the trunk module whose output an exit reads and holds it as
`branched_module`, with the exit as `branch_net` (Distiller's names, so parameter names such as
`layer1.2.relu2.branch_net.2.weight` are Distiller's). A model's forward returns the final exit's
logits only: evaluation, export, quantization and summaries see one output, and the exits cost
nothing there. The exits run when asked:

- `all_exit_outputs(model, x)`: [exit 0, ..., final exit] for every image;
- `ExitCapture(model)`: the exits' outputs of each training forward, for the training loss;
- `early_exit_forward(model, x, thresholds)`: inference that stops computing, batch-wise, for the
  images that leave at an exit; those still in flight carry on.

A model with exits says how its trunk divides into stages with `trunk_units()`: the
(name, module) units it runs one after another, each exit point the last operation of a unit.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..core.errors import UserError


class BranchPoint(nn.Module):
    """`branched_module`'s output, passed on unchanged; the exit `branch_net` runs on it when collected."""

    def __init__(self, branched_module: nn.Module, branch_net: nn.Module):
        super().__init__()
        self.branched_module = branched_module
        self.branch_net = branch_net
        self.sink: Optional[List[torch.Tensor]] = None  # set while exit outputs are collected

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.branched_module(x)
        if self.sink is not None:
            self.sink.append(self.branch_net(x))
        return x


def attach_exit(model: nn.Module, point: str, branch_net: nn.Module) -> None:
    """Put an exit on the output of the module named `point` (replaced by a BranchPoint holding it)."""
    parent_name, _, child = point.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, BranchPoint(getattr(parent, child), branch_net))


def exit_points(model: nn.Module) -> List[str]:
    """Names of the modules the early exits read, in the order the forward pass reaches them."""
    return [name for name, module in model.named_modules() if isinstance(module, BranchPoint)]


def count_exits(model: nn.Module) -> int:
    """Early exits of the model (the final exit not counted); 0 for a model without exits."""
    return len(exit_points(model))


def _branch_points(model: nn.Module) -> List[BranchPoint]:
    return [module for module in model.modules() if isinstance(module, BranchPoint)]


@contextmanager
def collecting_exits(model: nn.Module) -> Iterator[List[torch.Tensor]]:
    """Within: every forward pass appends each exit's logits, in exit order, to the list yielded."""
    outputs: List[torch.Tensor] = []
    points = _branch_points(model)
    for point in points:
        point.sink = outputs
    try:
        yield outputs
    finally:
        for point in points:
            point.sink = None


def all_exit_outputs(model: nn.Module, images: torch.Tensor) -> List[torch.Tensor]:
    """The logits of every exit for every image: [exit 0, ..., exit N-1, final exit]."""
    with collecting_exits(model) as outputs:
        final = model(images)
    return [*outputs, final]


class ExitCapture:
    """The early exits' logits of the model's latest forward in training mode with gradients.

    Hooks on the model switch the exits on for that forward only: validation and inference in
    eval mode run the trunk alone. Deep copies of the model share the hooks' plain functions.
    """

    def __init__(self, model: nn.Module):
        self.outputs: List[torch.Tensor] = []
        points = _branch_points(model)

        def begin(module, inputs):
            if module.training and torch.is_grad_enabled():
                self.outputs = []
                for point in points:
                    point.sink = self.outputs

        def end(module, inputs, output):
            for point in points:
                point.sink = None

        self._handles = [model.register_forward_pre_hook(begin), model.register_forward_hook(end)]

    def take(self) -> List[torch.Tensor]:
        """The exits' logits of the latest training forward, forgotten once taken."""
        taken, self.outputs = self.outputs, []
        return taken

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each row's softmax, in nats (0 for a certain prediction, ln(classes) at most)."""
    log_p = torch.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def exit_decisions(exit_logits: Sequence[torch.Tensor], thresholds: Sequence[float]) -> torch.Tensor:
    """Per image, the exit it leaves at: the first early exit whose softmax entropy is below that
    exit's threshold, else the final exit (index len(thresholds))."""
    count = exit_logits[0].size(0)
    taken = torch.full((count,), len(thresholds), dtype=torch.long, device=exit_logits[0].device)
    for index in reversed(range(len(thresholds))):  # reversed: the first exit that qualifies wins
        taken[softmax_entropy(exit_logits[index]) < thresholds[index]] = index
    return taken


def exit_stages(model: nn.Module) -> Tuple[List[nn.Module], List[nn.Module]]:
    """(trunk stages, exit heads): stage i ends at exit i's point; the last stage ends at the logits."""
    units = _trunk_units(model)
    stages: List[nn.Module] = []
    start = 0
    heads = []
    for point, branch in zip(exit_points(model), _branch_points(model)):
        end = _unit_ending_at(units, point, start)
        stages.append(nn.Sequential(*(module for _, module in units[start:end + 1])))
        heads.append(branch.branch_net)
        start = end + 1
    stages.append(nn.Sequential(*(module for _, module in units[start:])))
    return stages, heads


def _trunk_units(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    units = getattr(model, "trunk_units", None)
    if not callable(units):
        raise UserError(f"{type(model).__name__} has no early exits (no trunk_units() to run them by)")
    return list(units())


def _unit_ending_at(units: List[Tuple[str, nn.Module]], point: str, start: int) -> int:
    for index in range(start, len(units)):
        name = units[index][0]
        if point == name or point.startswith(name + "."):
            return index
    raise ValueError(f"the exit point '{point}' lies in none of the trunk units after the previous exit")


@torch.no_grad()
def early_exit_forward(model: nn.Module, images: torch.Tensor,
                       thresholds: Sequence[float]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Inference with exits taken: (logits, index of the exit each image left at).

    After each stage the exit's head runs on the images still in flight; those whose softmax
    entropy is below the exit's threshold leave with its logits and the rest go on, so the
    later stages compute only for the images that need them. Run in eval mode.
    """
    stages, heads = exit_stages(model)
    if len(thresholds) != len(heads):
        raise UserError(f"{len(thresholds)} thresholds for {len(heads)} early exits")
    count = images.size(0)
    in_flight = torch.arange(count, device=images.device)
    taken = torch.full((count,), len(heads), dtype=torch.long, device=images.device)
    logits: Optional[torch.Tensor] = None
    features = images
    for index, (stage, head, threshold) in enumerate(zip(stages, heads, thresholds)):
        features = stage(features)
        exit_logits = head(features)
        if logits is None:
            logits = exit_logits.new_empty(count, exit_logits.size(1))
        leave = softmax_entropy(exit_logits) < threshold
        if not leave.any():
            continue
        logits[in_flight[leave]] = exit_logits[leave]
        taken[in_flight[leave]] = index
        stay = ~leave
        features, in_flight = features[stay], in_flight[stay]
        if in_flight.numel() == 0:
            return logits, taken
    final = stages[-1](features)
    if logits is None:
        logits = final.new_empty(count, final.size(1))
    logits[in_flight] = final
    return logits, taken


class EarlyExitRunner(nn.Module):
    """`early_exit_forward` as a module returning the logits, for timing it beside the full model."""

    def __init__(self, model: nn.Module, thresholds: Sequence[float]):
        super().__init__()
        self.model = model
        self.thresholds = list(thresholds)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return early_exit_forward(self.model, images, self.thresholds)[0]
