"""`compressor auto`: search per-layer filter counts to a cost target, then reproduce and fine-tune.

    job = prepare_auto(checkpoint, config, out)   # every check; nothing written
    result = search(job, progress)                # greedy rounds on copies; nothing written
    report = finish(job, result, reporter, stop)  # schedule.yaml run by train's own loop, then the report

The kept model is the one `compressor train --schedule <out>/schedule.yaml` makes: the search
only decides how many filters each group keeps, so the schedule reproduces the result exactly.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from torch import nn

from ..evaluation import evaluate
from ..schedule import parse_schedule_text
from ..training import Reporter, TrainOptions, apply_overrides, fit, prepare_run
from ..training.stopping import StopRequest
from .auto_calibrate import first_batches, recalibrate_batchnorm, short_finetune
from .auto_cost import CostMeter
from .auto_greedy import Judge, Progress, SearchResult, greedy_search
from .auto_job import AutoJob, dataset_section, prepare_auto
from .auto_outputs import write_outputs
from .auto_report import build_report
from .auto_schedule import reproduce_schedule

__all__ = ["finish", "prepare_auto", "search"]


def search(job: AutoJob, progress: Progress = None) -> SearchResult:
    config = job.config
    return greedy_search(job.loaded.model, list(job.space.groups), job.example, _judge(job), config.target.ratio,
                         config.step, progress)


def _judge(job: AutoJob) -> Judge:
    config, device = job.config, job.device
    job.loaders.begin_epoch(0)
    calibration = first_batches(job.loaders.train, max(config.calibration_batches, config.round_steps), device)
    validation = _validation_batches(job)
    meter = CostMeter(config.target.kind, job.loaded.model, job.loaded.info.input_shape, device, config.latency)
    criterion = nn.CrossEntropyLoss()

    def settle(model: nn.Module) -> None:
        if config.round_steps:
            short_finetune(model, calibration[:config.round_steps], job.training.lr, device)
        recalibrate_batchnorm(model, calibration[:config.calibration_batches])

    def score(model: nn.Module) -> float:
        return evaluate(model, validation, criterion, device).top1

    return Judge(settle, score, meter.ratio)


def _validation_batches(job: AutoJob) -> List:
    """The validation images that score candidates: the first `eval_samples` (default all)."""
    samples = job.config.eval_samples
    batches, seen = [], 0
    for images, targets in job.loaders.val:
        take = targets.size(0) if samples is None else min(samples - seen, targets.size(0))
        batches.append((images[:take].to(job.device), targets[:take].to(job.device)))
        seen += take
        if samples is not None and seen >= samples:
            break
    return batches


def finish(job: AutoJob, result: SearchResult, reporter: Optional[Reporter] = None,
           stop: Optional[StopRequest] = None) -> Dict[str, Any]:
    """Write schedule.yaml, run it with `train`'s loop into the run folder, write the report there."""
    chosen = result.chosen(job.config.tolerance)
    text = _schedule_text(job, result, chosen.channels)
    schedule = apply_overrides(parse_schedule_text(text, str(job.folder / "schedule.yaml")),
                               TrainOptions(out=str(job.folder)))
    run = prepare_run(schedule, overwrite=job.overwrite)
    training = fit(run, reporter, stop)
    report = build_report(job, result, chosen, training, _dense_top1(job))
    write_outputs(job.folder, result.rounds, report)
    return report


def _schedule_text(job: AutoJob, result: SearchResult, kept: Dict[str, int]) -> str:
    config = job.config
    header = [f"Written by `compressor auto --target {config.target} --tolerance {config.tolerance:g} "
              f"--strategy {config.strategy} --step {config.step:g}` ({result.stopped_because}).",
              f"compressor train --schedule {job.folder / 'schedule.yaml'} reproduces its model from the dense "
              "checkpoint."]
    info = job.loaded.info
    return reproduce_schedule(info.name, str(job.checkpoint), dataset_section(job), job.training,
                              job.space.groups, kept, header)


def _dense_top1(job: AutoJob) -> Dict[str, float]:
    """The dense model on the whole validation split (what the tolerance is judged against) and,
    for the report only, on the test split."""
    criterion, model = nn.CrossEntropyLoss(), job.loaded.model
    return {"val": evaluate(model, job.loaders.val, criterion, job.device).top1,
            "test": evaluate(model, job.loaders.test, criterion, job.device).top1}
