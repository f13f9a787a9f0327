"""`compressor auto`: compress a checkpoint to a cost target within an accuracy tolerance."""
from __future__ import annotations

import click
from click.core import ParameterSource
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..compression.workflows.auto_config import KINDS
from ..compression.workflows.auto_flags import FLAGS
from .common import (DATA_DIR_HELP, console, json_option, print_measurement_warnings, render_table, size_text,
                     speedup_text, threads_option)
from .engine_render import render_vs_fp32
from .processes import run_in_every_process
from .progress import RichReporter
from .signals import stop_on_signals


@click.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="The dense compressor checkpoint (required).")
@click.option("--target",
              help=f"(required) KIND=RATIO, compressed / dense, RATIO in (0, 1); KIND: {', '.join(KINDS)} (size: the "
                   "weights file; latency: measured here).")
@click.option("--tolerance", type=float, help="(required) Validation top-1 points the result may lose.")
@click.option("--strategy", default="greedy", show_default=True,
              help="greedy (NetAdapt: one layer a step) or amc (a DDPG agent sets every layer's kept fraction).")
@click.option("--step", type=float, default=0.1, show_default=True,
              help="Each round removes this fraction of a layer's original filters.")
@click.option("--hold-out", "hold_out", multiple=True,
              help="Leave layers matching this regular expression (a whole layer name) as they are, with the "
                   "rest of their filter group (repeatable).")
@click.option("--finetune-epochs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Epochs of the final schedule (it thins at the end of the first).")
@click.option("--lr", type=float, help="Fine-tuning learning rate (default: a fifth of the dense run's).")
@click.option("--round-steps", type=click.IntRange(min=0), default=30, show_default=True,
              help="SGD steps each candidate is fine-tuned for before it is scored (0: BatchNorm re-estimation "
                   "only: quicker, and on fashion_cnn 0.3 to 0.6 point worse).")
@click.option("--calibration-batches", type=click.IntRange(min=0), default=8, show_default=True,
              help="Training batches that re-estimate each candidate's BatchNorm statistics.")
@click.option("--eval-samples", type=click.IntRange(min=1), help="Validation images that score a candidate "
                                                                  "(default: the whole validation split).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images per batch when latency is measured.")
@click.option("--latency-repeats", type=click.IntRange(min=1), default=10, show_default=True,
              help="Interleaved runs per latency measurement in the search.")
@click.option("--amc-episodes", type=int, help="AMC: episodes the agent runs [default: 100].")
@click.option("--amc-warmup", type=int, help="AMC: first episodes with random actions [default: a quarter of them].")
@click.option("--amc-min-keep", type=float,
              help="AMC: the least fraction of a layer's channels an action keeps, in (0, 1] [default: 0.2].")
@click.option("--amc-file", type=click.Path(dir_okay=False),
              help="AMC: Distiller's configuration (auto_compression_*.yaml): search only the layers it lists for "
                   "the model.")
@click.option("--data-dir", type=click.Path(), help=DATA_DIR_HELP)
@click.option("--out", type=click.Path(file_okay=False), help="Run folder [default: runs/auto-<arch>-<timestamp>].")
@click.option("--overwrite", is_flag=True, help="Replace the run in --out (the old folder is moved aside whole).")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Continue the interrupted run in this folder with its own flags (a flag given again must agree).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@threads_option
@json_option
def auto(out, overwrite, resume, as_json, **flags):
    """Compress a checkpoint to a cost target within an accuracy tolerance, no per-layer ratios to set.

    Greedy filter pruning (NetAdapt): each round removes one more step of filters from the
    layer that loses the least validation top-1 per unit of cost removed, until the target is
    met. AMC (--strategy amc, Distiller's AMC): in each episode a DDPG agent picks every
    layer's fraction of filters to keep, bounded so the target stays reachable (a latency
    target is only measured); the most accurate episode within the target is kept. Then the
    schedule.yaml it writes (per-layer L1 filter pruning, thinning, fine-tuning) is run by
    `train`'s own loop into the run folder. A target that cannot be met within the tolerance
    keeps the best result found, says so, and exits 0 (`target_met: false`).

    \b
    Examples:
      compressor auto --checkpoint runs/digits/best.pt --target macs=0.5 --tolerance 1
      compressor auto --checkpoint runs/fashion/best.pt --target latency=0.5 --tolerance 1 --hold-out conv1
      compressor auto --checkpoint best.pt --target params=0.3 --tolerance 2 --finetune-epochs 10 --json
      compressor auto --checkpoint best.pt --target macs=0.5 --tolerance 1 --strategy amc --amc-episodes 200
      compressor auto --resume runs/auto-digits_cnn-20260101-120000
      torchrun --nproc_per_node=2 -m compressor.cli auto --checkpoint best.pt --target macs=0.5 --tolerance 1

    \b
    SIGINT/SIGTERM stop the search after the candidate (AMC: the episode) in progress (what was
    completed is saved in the run folder's auto_state.json, AMC's agent in amc_state.pt) or the
    fine-tuning after its step (checkpoint.pt); --resume DIR continues either and writes the
    report. Under torchrun the candidates of each greedy round are split between the processes
    (AMC's episodes are not: every process runs them alike) and the fine-tuning runs under DDP;
    the first process writes.
    """
    run_in_every_process(lambda ranks: _run(flags, out, overwrite, resume, as_json, ranks), render_report, as_json)


def _run(flags, out, overwrite, resume, as_json, ranks):
    from ..compression.workflows.auto import finish, prepare_auto, resume_auto  # torch: not for `--help`

    if resume:
        job = resume_auto(resume, _given(flags), out, overwrite, ranks)
    else:
        job = prepare_auto(flags, out, overwrite, ranks)
    config = job.config
    if ranks.is_main:
        console.print(f"auto: {job.loaded.info.name}, {_groups(job)}, target "
                      f"{config.target} within {config.tolerance:g} top-1 points -> {job.folder}"
                      f"{_continuing(job.state)}{_shared(ranks)}", highlight=False)
        if ranks.world_size > 1 and config.target.kind == "latency":
            console.print(f"[yellow]warning:[/] each of the {ranks.world_size} processes measures its candidates' "
                          "latency while the others work: a latency target is judged under that load",
                          highlight=False, soft_wrap=True)
    with stop_on_signals() as stop:
        result = _search(job, as_json or not ranks.is_main, stop)
        return finish(job, result, None if as_json or not ranks.is_main else RichReporter(), stop)


def _groups(job) -> str:
    groups = f"{len(job.space.groups)} filter groups"
    if job.config.strategy == "amc" and job.config.amc.file:
        return f"{groups}, of which AMC searches those {job.config.amc.file} lists"
    return f"{groups} to search"


def _shared(ranks) -> str:
    return f" (candidates shared by {ranks.world_size} processes)" if ranks.world_size > 1 else ""


def _continuing(state) -> str:
    steps = "episodes" if state.flags.get("strategy") == "amc" else "rounds"
    if state.search_end is not None:
        return f" (search done in {len(state.rounds) - 1} {steps}: continuing with the fine-tuning)"
    return f" (continuing after {steps[:-1]} {len(state.rounds) - 1})" if state.rounds else ""


def _given(flags):
    """The flags given on the command line (not left at their defaults)."""
    context = click.get_current_context()
    return {name: flags[name] for name in FLAGS if context.get_parameter_source(name) is ParameterSource.COMMANDLINE}


def _search(job, quiet: bool, stop):
    from ..compression.workflows.auto import search

    """The search, with a bar that fills as the cost falls from dense towards the target (AMC: as its
    episodes run)."""
    target = job.config.target
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=quiet) as progress:
        if job.config.strategy == "amc":
            return search(job, _amc_bar(progress, job.config.amc.resolved().episodes, target), stop)
        task = progress.add_task("search", total=1.0)

        def update(reached, evaluated):
            share = min(1.0, (1.0 - reached.ratio) / (1.0 - target.ratio))
            progress.update(task, completed=share, description=f"round {reached.number}, {evaluated} candidates, "
                                                               f"{target.kind} {reached.ratio:.3f}")

        return search(job, update, stop)


def _amc_bar(progress, episodes, target):
    from ..compression.workflows.auto_amc_result import episode_reward

    task = progress.add_task("AMC", total=episodes)

    def update(best, done):
        if best.number:
            found = (f"best reward {episode_reward(best, target.ratio):.4f} (episode {best.number}, top-1 "
                     f"{best.top1:.2f}, {target.kind} {best.ratio:.3f})")
        else:
            found = "no episode within the target yet"
        progress.update(task, completed=done, description=f"episode {done}/{episodes}, {found}")

    return update


def render_report(report) -> None:
    layers = [(row["layer"], f"{row['kept']}/{row['channels']}", f"{row['kept_fraction']:.0%}")
              for row in report["layers"]]
    render_table("filters kept (rows of a Linear layer)", ["layer (group leader)", "kept", "fraction"], layers)
    _render_before_after(report)
    render_vs_fp32("compressed (PyTorch eager)", report, "dense FP32")
    for reason in report["shortfalls"]:
        console.print(f"[yellow]target not met:[/] {reason}; the best result found is kept", highlight=False,
                      soft_wrap=True)
    print_measurement_warnings(report)
    search = report["search"]
    if search["strategy"] == "amc":
        done = f"{search['episodes']} AMC episodes ({search['warmup']} warm-up)"
    else:
        done = f"{search['rounds']} rounds, {search['candidates']} candidates"
    console.print(f"search: {done}, {search['seconds']:.1f}s ({search['stopped_because']}); run folder: "
                  f"{report['out']} (best.pt, schedule.yaml, report.json, kept_fractions.png)", highlight=False,
                  soft_wrap=True)


def _render_before_after(report) -> None:
    dense, compressed, ratios = report["dense"], report["compressed"], report["ratios"]
    rows = [("validation top-1", f"{dense['val_top1']:.2f}", f"{compressed['val_top1']:.2f}",
             f"{-report['val_top1_drop']:+.2f} points"),
            ("test top-1", f"{dense['test_top1']:.2f}", f"{compressed['test_top1']:.2f}",
             f"{-report['test_top1_drop']:+.2f} points"),
            ("MACs", f"{dense['macs']:,}", f"{compressed['macs']:,}", f"{ratios['macs']:.3f}"),
            ("parameters", f"{dense['params']:,}", f"{compressed['params']:,}", f"{ratios['params']:.3f}"),
            ("weights file", size_text(dense['file_bytes']), size_text(compressed['file_bytes']),
             f"{ratios['size']:.3f}"),
            (f"latency (batch {report['latency_batch_size']})", f"{dense['latency_ms']:.3f} ms",
             f"{compressed['latency_ms']:.3f} ms", f"{ratios['latency']:.3f}, speed-up {speedup_text(report)}")]
    target = report["target"]
    verdict = "met" if report["target_met"] else "NOT met"
    render_table(f"auto: target {target['kind']}={target['ratio']:g} within {report['tolerance']:g} points: "
                 f"{verdict} (reached {report['reached']:.3f})", ["", "dense", "compressed", "compressed / dense"],
                 rows)
