"""`auto`'s report: target against reached, per-layer kept fractions, top-1 before and after, costs."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from torch import nn

from ..core.checkpoint import load_checkpoint
from ..report import latency_report
from ..restore import model_from_checkpoint
from .auto_amc_result import AmcResult
from .auto_cost import absolute_costs
from .auto_greedy import Round, SearchResult
from .auto_job import AutoJob
from .auto_prune import output_channels
from .auto_space import FilterGroup

_SLACK = 1e-9  # ratios and top-1 computed in floating point: equal counts as within


def build_report(job: AutoJob, result: SearchResult, chosen: Round, training: Dict[str, Any],
                 dense_top1: Dict[str, float]) -> Dict[str, Any]:
    config, folder = job.config, job.folder
    final = model_from_checkpoint(load_checkpoint(folder / "best.pt"))[0].to(job.device)
    dense, compressed = _costs(job.loaded.model, job), _costs(final, job)
    latency = _latency(job.loaded.model, final, job)
    dense["latency_ms"], compressed["latency_ms"] = latency.pop("dense_ms"), latency.pop("compressed_ms")
    dense.update(val_top1=dense_top1["val"], test_top1=dense_top1["test"])
    compressed.update(val_top1=training["best_val_top1"], test_top1=training["top1"])
    ratios = {kind: compressed[key] / dense[key] for kind, key in
              (("macs", "macs"), ("params", "params"), ("size", "file_bytes"), ("latency", "latency_ms"))}
    reasons = _shortfalls(job, ratios, dense, compressed, result)
    return {
        "strategy": config.strategy, "target": {"kind": config.target.kind, "ratio": config.target.ratio},
        "tolerance": config.tolerance, "target_met": not reasons, "shortfalls": reasons,
        "reached": ratios[config.target.kind], "ratios": ratios, "dense": dense, "compressed": compressed,
        "val_top1_drop": dense["val_top1"] - compressed["val_top1"],
        "test_top1_drop": dense["test_top1"] - compressed["test_top1"],
        "layers": kept_layers(job.space.groups, final), "left_out": {**job.space.left_out, **result.left_out},
        "search": _search_summary(result, chosen), **latency,
        "finetune": training,  # the run's own report.json, which this one replaces
        "out": str(folder), "checkpoint": str(folder / "best.pt"), "schedule": str(folder / "schedule.yaml"),
    }


def kept_layers(groups: Sequence[FilterGroup], model: nn.Module) -> List[Dict[str, Any]]:
    rows = []
    for group in groups:
        kept = output_channels(model, group)
        rows.append({"layer": group.leader, "group": list(group.members), "channels": group.channels, "kept": kept,
                     "kept_fraction": kept / group.channels})
    return rows


def _costs(model: nn.Module, job: AutoJob) -> Dict[str, Any]:
    costs = absolute_costs(model, job.loaded.info.input_shape)
    return {"macs": costs["macs"], "params": costs["params"], "file_bytes": costs["size"]}


def _latency(dense: nn.Module, final: nn.Module, job: AutoJob) -> Dict[str, Any]:
    """Both models in one interleaved run, at least 20 rounds (the search may have used fewer); the dense model
    also on every other installed FP32 engine, the speed-up also against the fastest (see latency_report)."""
    options = job.config.latency
    latency = latency_report(dense, final, job.loaded.info.input_shape, options.batch_size,
                             max(options.repeats, 20), options.warmup, job.device)
    return {"dense_ms": latency.pop("dense_latency_ms"), "compressed_ms": latency.pop("latency_ms"), **latency}


def _shortfalls(job: AutoJob, ratios: Dict[str, float], dense: Dict[str, Any], compressed: Dict[str, Any],
                result: SearchResult) -> List[str]:
    """Why the target is not met, in words (empty when it is)."""
    target, tolerance = job.config.target, job.config.tolerance
    reasons = []
    if ratios[target.kind] > target.ratio + _SLACK:
        reasons.append(f"{target.kind} reached {ratios[target.kind]:.3f} of dense, above the target "
                       f"{target.ratio:g} (search: {result.stopped_because})")
    drop = dense["val_top1"] - compressed["val_top1"]
    if drop > tolerance + _SLACK:
        reasons.append(f"validation top-1 fell {drop:.2f} points, more than the tolerance {tolerance:g}")
    return reasons


def _search_summary(result: SearchResult, chosen: Round) -> Dict[str, Any]:
    """AMC's episodes count as rounds (and candidates) here, with its own keys added."""
    rounds = result.rounds
    summary = {"strategy": "greedy", "rounds": len(rounds) - 1, "chosen_round": chosen.number,
               "stopped_because": result.stopped_because, "candidates": sum(r.candidates for r in rounds),
               "seconds": sum(r.seconds for r in rounds), "cost_ratio_reached": result.last.ratio,
               "chosen_cost_ratio": chosen.ratio, "start_val_top1": rounds[0].top1, "chosen_val_top1": chosen.top1}
    if isinstance(result, AmcResult):
        summary.update(result.summary(chosen))
    return summary
