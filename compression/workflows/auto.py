"""`compressor auto`: search per-layer filter counts to a cost target, then reproduce and fine-tune.

    job = prepare_auto(flags, out)                # every check; nothing written
    job = resume_auto(folder, given_flags)        # or: the run an interrupt left in `folder`
    result = search(job, progress, stop)          # greedy rounds or AMC episodes (auto_amc) on copies;
                                                  # auto_state.json after each
    report = finish(job, result, reporter, stop)  # schedule.yaml run by train's own loop, then the report

The kept model is the one `compressor train --schedule <out>/schedule.yaml` makes: the search
only decides how many filters each group keeps, so the schedule reproduces the result exactly.
A stop request (a signal) ends the search after the candidate in progress, or the fine-tuning
after its step, with TrainingInterrupted; `resume_auto` continues from what was saved.

Under torchrun (`ranks` given to prepare_auto/resume_auto) every process runs these calls: the
processes join their group, share each round's candidates (AMC's episodes are not split: every
process runs them all alike), fine-tune under DDP, and only the first one writes (state,
schedule, report; `finish` returns the report there and None elsewhere).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from torch import nn

from ..core.errors import TrainingInterrupted
from ..distributed import barrier, join
from ..evaluation import evaluate
from ..schedule import parse_schedule_text
from ..training import Reporter, TrainOptions, apply_overrides, fit, prepare_run
from ..training.run_folder import move_aside
from ..training.stopping import StopRequest
from .auto_amc import prepare_amc, run_amc
from .auto_amc_result import AmcResult
from .auto_calibrate import first_batches, recalibrate_batchnorm, short_finetune
from .auto_cost import CostMeter
from .auto_greedy import Hooks, Judge, Progress, Round, SearchInterrupted, SearchResult, greedy_search
from .auto_job import AutoJob, dataset_section, prepare_auto
from .auto_outputs import write_outputs
from .auto_report import build_report
from .auto_resume import resume_auto
from .auto_schedule import reproduce_schedule
from .auto_state import STATE_FILE, save_state

__all__ = ["finish", "prepare_auto", "resume_auto", "search"]


def search(job: AutoJob, progress: Progress = None, stop: Optional[StopRequest] = None) -> SearchResult:
    """The greedy rounds (or AMC's episodes) from where job.state stands, each saved into the run folder
    as it completes."""
    state, config, stop = job.state, job.config, stop or StopRequest()
    if state.search_end is not None:
        return state.result()
    amc = prepare_amc(job) if config.strategy == "amc" else None  # --amc-file checked before anything is written
    join(job.ranks, job.device)
    barrier()  # every process has checked the run folder before the first one writes into it
    if job.ranks.is_main:
        _open_folder(job)
    if amc is not None:
        result = run_amc(job, amc, _judge(job), progress, stop,
                         lambda rounds, left_out: _save_rounds(job, rounds, left_out))
    else:
        result = _greedy(job, progress, stop)
    state.search_end = {"target_reached": result.target_reached, "stopped_because": result.stopped_because}
    if isinstance(result, AmcResult):
        state.search_end["amc"] = result.end_record()
    _save_rounds(job, result.rounds, result.left_out)
    return result


def _greedy(job: AutoJob, progress: Progress, stop: StopRequest) -> SearchResult:
    state, config = job.state, job.config
    hooks = Hooks(lambda rounds, left_out: _save_rounds(job, rounds, left_out), lambda: stop.requested)
    try:
        return greedy_search(job.loaded.model, list(job.space.groups), job.example, _judge(job),
                             config.target.ratio, config.step, progress, hooks, state.rounds, state.left_out)
    except SearchInterrupted as err:
        rounds = f"{err.completed} round{'' if err.completed == 1 else 's'}"
        raise TrainingInterrupted(f"{stop.reason} received: stopped the search in round {err.completed + 1} "
                                  f"({rounds} completed, saved in {job.folder / STATE_FILE}); resume with "
                                  f"compressor auto --resume {job.folder}", stop.exit_code) from None


def _open_folder(job: AutoJob) -> None:
    """The run folder, the old one moved aside first when --overwrite says so (only a new run)."""
    if job.overwrite and not job.state.rounds:
        move_aside(job.folder)
    job.folder.mkdir(parents=True, exist_ok=True)


def _save_rounds(job: AutoJob, rounds: List[Round], left_out: Dict[str, str]) -> None:
    job.state.rounds, job.state.left_out = list(rounds), dict(left_out)
    if job.ranks.is_main:
        save_state(job.folder, job.state)


def _judge(job: AutoJob) -> Judge:
    config, device = job.config, job.device
    job.loaders.begin_epoch(0)
    with torch.random.fork_rng(devices=[]):  # the same batches (augmented alike) in a resumed run
        torch.manual_seed(job.training.seed)
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

    # Latency is ranked by MACs: a step's gain is often inside the timing noise (see auto_greedy).
    rank = None
    if config.target.kind == "latency":
        rank = CostMeter("macs", job.loaded.model, job.loaded.info.input_shape, device).ratio
    return Judge(settle, score, meter.ratio, rank)


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
           stop: Optional[StopRequest] = None) -> Optional[Dict[str, Any]]:
    """Write schedule.yaml, run it with `train`'s loop into the run folder (continuing the folder's
    checkpoint.pt when an interrupted fine-tuning left one), write the report there."""
    chosen = result.chosen(job.config.tolerance)
    text = _schedule_text(job, result, chosen.channels)
    schedule = apply_overrides(parse_schedule_text(text, str(job.folder / "schedule.yaml")),
                               TrainOptions(out=str(job.folder)))
    checkpoint = job.folder / "checkpoint.pt"
    resume = str(checkpoint) if checkpoint.is_file() else None
    run = prepare_run(schedule, resume=resume, ranks=job.ranks, folder_checked=True)
    if resume is None and job.ranks.is_main:  # a fine-tuning killed before its first checkpoint may have logged an epoch
        run.folder.truncate_metrics(0)
    try:
        training = fit(run, reporter, stop)
    except TrainingInterrupted as err:
        where = str(err).partition("; resume with")[0]
        raise TrainingInterrupted(f"{where} of the fine-tuning; resume with compressor auto --resume {job.folder}",
                                  err.exit_code) from None
    if not job.ranks.is_main:
        return None
    report = build_report(job, result, chosen, training, _dense_top1(job))
    write_outputs(job.folder, result.rounds, report)
    job.state.complete = True
    save_state(job.folder, job.state)
    return report


def _schedule_text(job: AutoJob, result: SearchResult, kept: Dict[str, int]) -> str:
    config = job.config
    header = [f"Written by `compressor auto --target {config.target} --tolerance {config.tolerance:g} "
              f"--strategy {config.strategy} {_search_flags(config)}` ({result.stopped_because}).",
              f"compressor train --schedule {job.folder / 'schedule.yaml'} reproduces its model from the dense "
              "checkpoint."]
    info = job.loaded.info
    model = {"num_classes": info.num_classes, "input_size": list(info.input_shape)}  # the checkpoint's, not the arch's
    return reproduce_schedule(info.name, str(job.checkpoint), dataset_section(job), job.training,
                              job.space.groups, kept, header, model)


def _search_flags(config) -> str:
    if config.strategy != "amc":
        return f"--step {config.step:g}"
    amc = config.amc.resolved()
    file = f" --amc-file {amc.file}" if amc.file else ""
    return f"--amc-episodes {amc.episodes} --amc-warmup {amc.warmup} --amc-min-keep {amc.min_keep:g}{file}"


def _dense_top1(job: AutoJob) -> Dict[str, float]:
    """The dense model on the whole validation split (what the tolerance is judged against) and,
    for the report only, on the test split."""
    criterion, model = nn.CrossEntropyLoss(), job.loaded.model
    return {"val": evaluate(model, job.loaders.val, criterion, job.device).top1,
            "test": evaluate(model, job.loaders.test, criterion, job.device).top1}
