"""`compressor train`: run a schedule end to end and write the run folder."""
from __future__ import annotations

import click

from ..compression.core.errors import UserError
from ..compression.schedule import load_schedule, parse_schedule_text
from ..compression.training.options import TrainOptions, with_recorded
from ..compression.training.overrides import apply_overrides
from .common import (console, json_option, options_from, print_measurement_warnings, render_table, size_text,
                     speedup_text, threads_option)
from .engine_render import render_vs_fp32
from .processes import run_in_every_process
from .progress import RichReporter, WarningPrinter
from .signals import stop_on_signals


@click.command()
@click.option("--schedule", "schedule_path", type=click.Path(), help="Schedule YAML file.")
@options_from(TrainOptions)
@threads_option
@json_option
def train(schedule_path, as_json, **values):
    """Train and compress a model as the schedule says; write the run folder.

    \b
    Examples:
      compressor train --schedule schedules/digits_baseline.yaml
      compressor train --schedule schedules/digits_baseline.yaml --epochs 5 --out runs/quick
      compressor train --resume runs/quick/checkpoint.pt --epochs 10
      compressor train --schedule schedules/digits_student.yaml --kd-teacher runs/teacher/best.pt --kd-temp 4
      torchrun --nproc_per_node=2 -m compressor.cli train --schedule schedules/digits_agp.yaml

    \b
    SIGINT/SIGTERM finish the current step, write checkpoint.pt and exit 128+signal;
    --resume continues from that step.
    """
    options = TrainOptions(**values)
    schedule, options = _schedule(schedule_path, options)

    def work(ranks):
        with stop_on_signals() as stop:
            return _train(apply_overrides(schedule, options), options, ranks, stop, as_json)

    run_in_every_process(work, render_report, as_json)


def _train(schedule, options, ranks, stop, as_json):
    from ..compression.training import fit, prepare_run  # torch loads here, not for `--help`

    run = prepare_run(schedule, resume=options.resume, ranks=ranks, overwrite=bool(options.overwrite),
                      strict=bool(options.strict))
    if ranks.is_main:
        count = ranks.world_size
        processes = f" in {count} process{'es' if count > 1 else ''} (DDP)" if ranks.enabled else ""
        precision = f" in {run.precision.name}" if run.precision.name != "fp32" else ""
        console.print(f"training {run.info.name} on {run.schedule.dataset.name}{precision}{processes} -> "
                      f"{run.folder.path}", highlight=False)
        for note in run.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
        for warning in run.warnings:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
        if run.replaced:
            console.print(f"the earlier contents of {run.folder.path} were moved to {run.replaced}", highlight=False)
    if not ranks.is_main:
        return fit(run, None, stop)
    return fit(run, WarningPrinter() if as_json else RichReporter(), stop)


def render_report(report) -> None:
    """Dense architecture vs the best compressed model, side by side."""
    rows = [
        ("parameters", f"{report['dense_params']:,}", f"{report['params']:,}", _ratio(report["dense_params"], report["params"])),
        ("non-zeros", f"{report['dense_nnz']:,}", f"{report['nnz']:,}", _ratio(report["dense_nnz"], report["nnz"])),
        ("MACs", f"{report['dense_macs']:,}", f"{report['effective_macs']:,} effective",
         _ratio(report["dense_macs"], report["effective_macs"])),
        ("weights file", size_text(report["dense_file_bytes"]), size_text(report["file_bytes"]),
         _ratio(report["dense_file_bytes"], report["file_bytes"])),
    ]
    if report.get("packed_file_bytes"):
        rows.append(("packed file (best.cpk)", size_text(report["dense_file_bytes"]),
                     size_text(report["packed_file_bytes"]),
                     f"{report['packed_ratio']:.1f}x"))
    if report.get("latency_ms") is not None:
        rows.append((f"latency (batch {report['latency_batch_size']})", f"{report['dense_latency_ms']:.2f} ms",
                     f"{report['latency_ms']:.2f} ms", speedup_text(report)))
    else:
        rows.append(("latency", "", "not measured (skip_latency)", ""))
    start = report.get("dense_top1")  # the model the run started from, when it started from a checkpoint
    rows.append(("test top-1 / top-5", "" if start is None else f"{start:.2f}% (start)",
                 f"{report['top1']:.2f}% / {report['top5']:.2f}%",
                 "" if start is None else f"{report['top1'] - start:+.2f} points"))
    if report.get("precision", "fp32") != "fp32":
        rows.append(("precision", "", f"{report['precision']} (training and evaluation)", ""))
    if "early_exit" in report:
        early = report["early_exit"]
        shares = ", ".join(f"{share:.1%}" for share in early["exit_shares"])
        rows.append(("test top-1, exits taken", "", f"{early['top1']:.2f}% (leaving at each exit: {shares})", ""))
    render_table(f"compression report: {report['arch']}, best epoch {report['best_epoch']} ({_size_said(report)})",
                 ["", "dense", "compressed", "dense / compressed"], rows)
    render_vs_fp32("compressed (PyTorch eager)", report, "dense FP32")
    print_measurement_warnings(report)
    console.print(f"run folder: {report['out']}", highlight=False, soft_wrap=True)


def _size_said(report) -> str:
    """Sparsity counts the zeros of the model as it is: after thinning it says nothing of what was removed."""
    said = f"sparsity {report['sparsity']:.1%}"
    if report.get("params") != report.get("dense_params") and report.get("dense_nnz"):
        said += f", {report['nnz'] / report['dense_nnz']:.1%} of the dense model's non-zeros"
    return said


def _ratio(dense, compressed) -> str:
    return f"{dense / compressed:.2f}x" if compressed else "-"


def _schedule(schedule_path, options):
    """The schedule, and the options with those a resumed run was started with where none are given."""
    resume = options.resume
    if not schedule_path and not resume:
        raise UserError("give --schedule FILE (or --resume CKPT to continue a run)")
    if not resume:
        return load_schedule(schedule_path), options
    from ..compression.core.checkpoint import load_resumable_checkpoint

    payload = load_resumable_checkpoint(resume)
    options = with_recorded(options, payload.get("options", {}))
    if schedule_path:
        return load_schedule(schedule_path), options
    return parse_schedule_text(payload.get("schedule_text", ""), f"schedule in {resume}"), options
