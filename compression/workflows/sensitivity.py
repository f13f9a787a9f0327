"""Pruning sensitivity analysis: prune one layer at a time, evaluate, restore; and a schedule it suggests."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import yaml
from torch import nn

from ..core.errors import UserError, did_you_mean
from ..distributed import gather_shares, my_share
from ..evaluation import EvalResult, evaluate
from ..pruning.ranking import magnitude_mask
from ..pruning.structures import expand_structure_mask, lowest_k_mask, structure_scores
from ..sparsity import prunable_weights
from .sensitivity_data import eval_batches, fast_layout
from .sensitivity_levels import GRANULARITIES, check_levels

_GROUPS = {("filter", 4): "Filters", ("channel", 4): "Channels", ("filter", 2): "Rows", ("channel", 2): "Cols"}


@dataclass(frozen=True)
class Row:
    parameter: str
    sparsity: float
    top1: float
    top5: float
    loss: float


def pruned_weight(weight: torch.Tensor, sparsity: float, granularity: str) -> torch.Tensor:
    """The weight with `sparsity` of its elements (or L1-ranked filters/channels) zeroed."""
    _check_granularity(granularity)
    group = _group(weight, granularity)
    if group is None:
        return weight * magnitude_mask(weight, sparsity)
    keep = lowest_k_mask(structure_scores(weight, group), sparsity)
    return weight * expand_structure_mask(keep, weight, group)


def level_pruner(weight: torch.Tensor, granularity: str) -> Callable[[float], torch.Tensor]:
    """`level -> pruned_weight(weight, level, granularity)`, ranking the magnitudes only once."""
    _check_granularity(granularity)
    if _group(weight, granularity) is None:
        return _magnitude_pruner(weight)
    return lambda level: pruned_weight(weight, level, granularity)


def _check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise UserError(f"unknown granularity '{granularity}' (one of {', '.join(GRANULARITIES)})")


def _group(weight: torch.Tensor, granularity: str) -> Optional[str]:
    """The structure a level removes, or None for single elements (also e.g. a Conv1d weight)."""
    if granularity == "element":
        return None
    return _GROUPS.get((granularity, weight.dim()))


def _magnitude_pruner(weight: torch.Tensor) -> Callable[[float], torch.Tensor]:
    """The same masks as magnitude_mask (stable ascending order of |w|), from one sort for all levels."""
    order = torch.argsort(weight.detach().abs().flatten(), stable=True)

    def prune(level: float) -> torch.Tensor:
        count = int(round(level * weight.numel())) if level > 0 else 0
        keep = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)
        keep[order[:count]] = False
        return weight * keep.view_as(weight)

    return prune


Batches = Sequence[Tuple[torch.Tensor, torch.Tensor]]
Progress = Optional[Callable[[int, int], None]]


def sensitivity_sweep(model: nn.Module, batches: Batches, sparsities: Sequence[float], granularity: str,
                      device, progress: Progress = None, parameters: Optional[Sequence[str]] = None,
                      split: bool = False) -> List[Row]:
    """One Row per (Conv/Linear weight, level); each weight is restored exactly after its levels.

    `parameters` limits the sweep to these weight names (default: every Conv/Linear weight).
    `split`: in a process group (torchrun), each process scores every world_size-th (weight, level)
    pair and all of them return every row; `progress` counts this process's pairs.
    The images are placed on `device` once; level 0 is evaluated once and shared by every
    weight; each weight's magnitudes are ranked once for all its levels.
    """
    _check_granularity(granularity)
    check_levels(sparsities)
    score = _scorer(model, eval_batches(model, batches, device), device)
    with fast_layout(model, device):
        return _sweep(model, score, sparsities, granularity, progress, parameters, split)


def sensitivity(model: nn.Module, evaluate_fn: Callable[[nn.Module], float], sparsities: Sequence[float],
                granularity: str = "element", parameters: Optional[Sequence[str]] = None,
                progress: Progress = None) -> List[Row]:
    """Prune each Conv/Linear weight alone to each level, score the model with `evaluate_fn`, restore.

    `evaluate_fn(model)` returns the score to record (top-1 on your validation data, say); rows
    carry it as `top1` (`top5` and `loss` are NaN). The model ends with its weights bit-identical.

    >>> rows = sensitivity(model, lambda m: my_accuracy(m, val_loader), [0.0, 0.5, 0.9])
    """
    _check_granularity(granularity)
    check_levels(sparsities)

    def score() -> EvalResult:
        value = evaluate_fn(model)
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not _scalar_tensor(value):
            raise UserError(f"evaluate_fn must return the score as a number, not {type(value).__name__}")
        return EvalResult(loss=math.nan, top1=float(value), top5=math.nan, samples=0)

    return _sweep(model, score, sparsities, granularity, progress, parameters)


def _scalar_tensor(value) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() == 1


def _sweep(model, score, sparsities, granularity, progress, parameters, split=False) -> List[Row]:
    """Rows in (weight, level) order; with `split`, this process scores its share of the pairs and
    every process ends with all the rows."""
    weights = _selected(prunable_weights(model), parameters)
    levels = list(sparsities)
    pairs = [(index, level) for index in range(len(weights)) for level in levels]
    mine = my_share(len(pairs)) if split else list(range(len(pairs)))
    tick = _ticker(len(mine), progress)
    rows: Dict[int, Row] = {}
    dense = None
    for index, (name, weight) in enumerate(weights):
        owned = [(k, pairs[k][1]) for k in mine if pairs[k][0] == index]
        if owned:
            dense = _layer_rows(name, weight, owned, granularity, score, dense, tick, rows)
    return gather_shares(rows) if split else [rows[k] for k in sorted(rows)]


def _layer_rows(name, weight, owned, granularity, score, dense, tick, rows: Dict[int, Row]):
    """Rows of one weight at its (pair index, level)s into `rows`; returns the dense result (evaluated
    once, at the first level 0). The weight ends bit-identical."""
    saved = weight.detach().clone()
    prune = level_pruner(saved, granularity)
    try:
        for k, level in owned:
            if level <= 0 and dense is not None:
                result = dense
            else:
                _assign(weight, prune(level))
                result = score()
                dense = result if level <= 0 else dense
            rows[k] = Row(name, float(level), result.top1, result.top5, result.loss)
            tick()
    finally:
        _assign(weight, saved)
    return dense


def _assign(weight: torch.Tensor, value: torch.Tensor) -> None:
    with torch.no_grad():
        weight.copy_(value)


def _scorer(model: nn.Module, batches: Batches, device) -> Callable[[], EvalResult]:
    criterion = nn.CrossEntropyLoss()

    def score() -> EvalResult:
        with torch.inference_mode():
            return evaluate(model, batches, criterion, device)

    return score


def _ticker(total: int, progress: Progress) -> Callable[[], None]:
    """Reports (0, total) now, then (done, total) after each row."""
    done = 0
    if progress:
        progress(0, total)

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    return tick


def _selected(weights, parameters):
    if parameters is None:
        return weights
    known = dict(weights)
    for name in parameters:
        if name not in known:
            raise UserError(did_you_mean(name, known, "prunable weight"))
    return [(name, known[name]) for name in parameters]


def baseline_top1(model: nn.Module, batches: Batches, device) -> float:
    with fast_layout(model, device):
        return _scorer(model, eval_batches(model, batches, device), device)().top1


def dense_top1(rows: Sequence[Row]) -> Optional[float]:
    """The unpruned model's top-1 when the sweep evaluated level 0 (then every level-0 row holds it)."""
    return next((row.top1 for row in rows if row.sparsity <= 0), None)


def at_chance(top1: float, num_classes: int, samples: int) -> bool:
    """Whether a top-1 (in percent) is no better than guessing among `num_classes` on `samples` images.

    A model that guesses is right with probability p = 1 / num_classes per image, so its measured
    top-1 is a binomial proportion whose standard error is sqrt(p (1 - p) / samples): on a few
    hundred images, guessing alone can score a few points above 100 / num_classes. A top-1 within
    two standard errors above chance (or anywhere below it) cannot be told apart from guessing;
    an untrained model's sweep then measures noise, not sensitivity.
    """
    if num_classes < 1 or samples < 1:
        raise ValueError(f"need at least one class and one sample, got {num_classes} and {samples}")
    p = 1.0 / num_classes
    margin = 2.0 * math.sqrt(p * (1.0 - p) / samples)
    return top1 <= 100.0 * (p + margin)


def baseline_warnings(top1: float, num_classes: int, samples: int) -> List[str]:
    """The warnings a sweep with this baseline deserves (none when its results mean something)."""
    if not at_chance(top1, num_classes, samples):
        return []
    return [f"the baseline top-1 {top1:.2f}% is at chance level for {num_classes} classes "
            f"({100.0 / num_classes:.2f}% on {samples} images): the model has not learned the task "
            "(untrained weights?), so these sensitivities and the suggested schedule are meaningless"]


def suggested_levels(rows: Sequence[Row], tolerance: float, baseline: float) -> Dict[str, float]:
    """Per parameter: the largest level whose top-1 stays within `tolerance` points of the baseline."""
    levels: Dict[str, float] = {}
    for row in rows:
        levels.setdefault(row.parameter, 0.0)
        if row.top1 >= baseline - tolerance - 1e-9 and row.sparsity > levels[row.parameter]:
            levels[row.parameter] = row.sparsity
    return levels


def suggest_schedule(rows: Sequence[Row], tolerance: float, baseline_top1: float, arch: str,
                     checkpoint: Optional[str] = None, dataset: Optional[Mapping[str, Any]] = None,
                     warnings: Sequence[str] = (), structures: Optional[Mapping[str, str]] = None,
                     training: Optional[Mapping[str, Any]] = None) -> str:
    """A runnable YAML schedule: one AGP pruner per distinct suggested level; each warning a comment.

    `dataset`: the options of the swept data (`datasets.recorded_options`: name, path, mean, ...).
    `structures` (a filter or channel sweep's `structure_groups`): each weight's group type, pruned as
    swept (L1-ranked structures on AGP's schedule, then thinned away) instead of element by element.
    `training`: settings for the `training:` section beside its 15 epochs (lr, optimizer, ...).
    """
    by_level: Dict[Tuple[float, str], List[str]] = {}
    for name, level in suggested_levels(rows, tolerance, baseline_top1).items():
        if level > 0:
            by_level.setdefault((level, (structures or {}).get(name, "")), []).append(name)
    lines = [f"# Suggested by `compressor sensitivity` (tolerance {tolerance:g} top-1 points below "
             f"the baseline {baseline_top1:.2f}).", *_comments(warnings),
             "version: 1", "", "model:", f"  arch: {arch}"]
    if checkpoint:
        lines.append(f"  checkpoint: {_quote(checkpoint)}")
    if dataset:
        lines += ["", *yaml.safe_dump({"dataset": dict(dataset)}, sort_keys=False).splitlines()]
    lines += ["", *yaml.safe_dump({"training": {"epochs": SUGGESTED_EPOCHS, **(training or {})}},
                                  sort_keys=False).splitlines(), ""]
    if not by_level:
        return "\n".join(lines + ["# No layer can be pruned within the tolerance: no pruners.", ""])
    thinning = _thinning(by_level)
    return "\n".join(lines + _pruner_lines(by_level) + _extension_lines(thinning)
                     + _policy_lines(by_level, thinning) + [""])


SUGGESTED_EPOCHS = 15
AGP_END = 10  # pruning raised over epochs 0-9, structures thinned away at the end of epoch 10, then fine-tuning
_THINNING = {"Filters": "FilterRemover", "Rows": "FilterRemover", "Channels": "ChannelRemover",
             "Cols": "ChannelRemover"}


def structure_groups(model: nn.Module, granularity: str) -> Dict[str, str]:
    """Each Conv/Linear weight's group type (Filters, Rows, Channels, Cols) in a filter or channel sweep."""
    _check_granularity(granularity)
    groups = {name: _group(weight, granularity) for name, weight in prunable_weights(model)}
    return {name: group for name, group in groups.items() if group is not None}


def _comments(warnings: Sequence[str]) -> List[str]:
    return ["# warning: " + " ".join(warning.split()) for warning in warnings]


def _pruner_name(level: float, group: str) -> str:
    return f"{'agp' if not group else group.lower()}_{int(round(level * 100)):02d}"


def _pruner_lines(by_level: Dict[Tuple[float, str], List[str]]) -> List[str]:
    lines = ["pruners:"]
    for level, group in sorted(by_level):
        initial = 0.05 if level > 0.1 else round(level / 2, 6)
        # a bias would keep a pruned filter's or row's output alive (a conv with no BatchNorm, a Linear layer):
        # pruned with it, the filter or row can be thinned away
        kind = ["    class: AutomatedGradualPruner"] if not group else [
            "    class: L1RankedStructureParameterPruner_AGP", f"    group_type: {group}",
            *(["    prune_bias: true"] if group in ("Filters", "Rows") else [])]
        lines += [f"  {_pruner_name(level, group)}:", *kind,
                  f"    initial_sparsity: {initial:g}", f"    final_sparsity: {level:g}",
                  f"    weights: [{', '.join(by_level[(level, group)])}]", ""]
    return lines


def _thinning(by_level: Dict[Tuple[float, str], List[str]]) -> Optional[str]:
    return next((_THINNING[group] for _, group in by_level if group), None)


def _extension_lines(thinning: Optional[str]) -> List[str]:
    if thinning is None:
        return []
    function = "remove_filters" if thinning == "FilterRemover" else "remove_channels"
    return ["extensions:", "  thin:", f"    class: {thinning}", f"    thinning_func_str: {function}", ""]


def _policy_lines(by_level: Dict[Tuple[float, str], List[str]], thinning: Optional[str]) -> List[str]:
    lines = ["policies:"]
    for level, group in sorted(by_level):
        lines += ["  - pruner:", f"      instance_name: {_pruner_name(level, group)}", "    starting_epoch: 0",
                  f"    ending_epoch: {AGP_END}", "    frequency: 1", ""]
    if thinning is not None:
        lines += ["  - extension:", "      instance_name: thin", f"    epochs: [{AGP_END}]", ""]
    return lines


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
