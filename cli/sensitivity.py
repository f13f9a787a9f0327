"""`compressor sensitivity`: prune each layer alone at several levels and see what it costs."""
from __future__ import annotations

import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..compression.core.errors import UserError
from ..compression.workflows.sensitivity_levels import GRANULARITIES, parse_sparsities
from .common import console, dataset_options, emit_json, json_option, render_table, threads_option
from .options import dataset_config


@click.command()
@click.option("--arch", "--model", "arch",
              help="Model name (see `compressor list models`); --model is Distiller's name for it.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Use this checkpoint's model and weights.")
@click.option("--pretrained", is_flag=True, help="Pretrained weights from the local torch cache.")
@dataset_options
@click.option("--sparsities", default="0:0.95:0.05", show_default=True,
              help="Levels as start:stop:step (stop included) or a comma list, each in [0, 1).")
@click.option("--granularity", type=click.Choice(GRANULARITIES), default="element", show_default=True,
              help="Prune elements, or whole filters/channels ranked by L1.")
@click.option("--eval-samples", type=click.IntRange(min=1), default=256, show_default=True,
              help="Validation images each evaluation uses.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Top-1 points a layer may lose in the suggested schedule.")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder [default: runs/sensitivity-<model>].")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@threads_option
@json_option
def sensitivity(arch, checkpoint, pretrained, dataset, data_dir, batch_size, workers, sparsities, granularity,
                eval_samples, tolerance, out, device, as_json):
    """Sweep each Conv/Linear layer's sparsity alone; write CSV, plot, TensorBoard and a suggested schedule.

    \b
    Examples:
      compressor sensitivity --arch digits_cnn --sparsities 0,0.5,0.9
      compressor sensitivity --model resnet18 --dataset fake --granularity filter --json
      compressor sensitivity --checkpoint runs/digits/best.pt
      torchrun --nproc_per_node=2 -m compressor.cli sensitivity --checkpoint runs/digits/best.pt

    \b
    Under torchrun the (layer, level) pairs are split between the processes; the first one writes.
    """
    # torch and the library load here, not for `--help`
    from ..compression.device import resolve_device
    from ..compression.distributed import broadcast_from_main, join, leave, process_device, ranks_from_environment
    from ..compression.training.run_folder import folder_name
    from ..compression.workflows.sensitivity import (at_chance, baseline_warnings, structure_groups, suggest_schedule,
                                                     suggested_levels)
    from ..compression.workflows.sensitivity_data import validation_batches
    from ..datasets import recorded_options

    levels = parse_sparsities(sparsities)
    loaded = _load(arch, checkpoint, pretrained)
    config = dataset_config(loaded.dataset, dataset, data_dir, batch_size, workers, loaded.dataset_options)
    ranks = ranks_from_environment()
    target = process_device(resolve_device(device), ranks)
    model = loaded.model.to(target)
    batches = validation_batches(loaded, config, eval_samples, target)
    try:
        join(ranks, target)
        broadcast_from_main(model.state_dict().values())  # random weights (no checkpoint) differ per process
        started = time.perf_counter()
        rows = _sweep(model, batches, levels, granularity, target, ranks)
    finally:
        leave()
    if not ranks.is_main:
        return
    baseline = _baseline(rows, model, batches, target)
    seconds = time.perf_counter() - started
    classes, samples = loaded.info.num_classes, sum(len(targets) for _, targets in batches)
    warnings = baseline_warnings(baseline, classes, samples)
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    folder = Path(out or Path("runs") / f"sensitivity-{folder_name(loaded.info.name)}")
    ckpt = str(Path(checkpoint).resolve()) if checkpoint else None
    structures = structure_groups(model, granularity) if granularity != "element" else None
    schedule = suggest_schedule(rows, tolerance, baseline, loaded.info.name, ckpt, recorded_options(config), warnings,
                                structures, _finetuning(loaded.checkpoint) if checkpoint else None)
    paths = _write(rows, schedule, folder, warnings)
    layers = suggested_levels(rows, tolerance, baseline)
    if as_json:
        emit_json({**{k: str(v) for k, v in paths.items()}, "baseline_top1": baseline,
                   "baseline_at_chance": at_chance(baseline, classes, samples), "warnings": warnings,
                   "layers": layers, "evaluations": len(rows), "processes": ranks.world_size,
                   "seconds": round(seconds, 3)})
        return
    _render(rows, layers, baseline, tolerance)
    console.print(f"wrote {paths['csv']}, {paths['png']}, {paths['schedule']} and TensorBoard events "
                  f"in {folder / 'tensorboard'} ({len(rows)} evaluations{_processes(ranks)}, {seconds:.1f}s)",
                  highlight=False, soft_wrap=True)


def _finetuning(payload):
    """The suggested schedule fine-tunes as the checkpoint's run trained, at a fifth of its learning rate."""
    from ..compression.workflows.finetune import dense_training, finetune_lr

    dense = dense_training(payload)
    return {"optimizer": dense.optimizer, "lr": finetune_lr(dense), "momentum": dense.momentum,
            "weight_decay": dense.weight_decay}


def _load(arch, checkpoint, pretrained):
    from ..compression.model_source import load_model

    if not checkpoint:
        if not arch:
            raise UserError("give --arch NAME (or Distiller's --model NAME), or --checkpoint CKPT")
        return load_model(None, arch, bool(pretrained))
    if pretrained:
        raise UserError("give --checkpoint or --pretrained, not both")
    from ..compression.models import model_info

    if arch:
        model_info(arch)  # unknown names: did-you-mean
    loaded = load_model(checkpoint, None)
    if arch and loaded.info.name != arch:
        raise UserError(f"--arch {arch} does not match checkpoint {checkpoint}, which holds '{loaded.info.name}'")
    return loaded


def _sweep(model, batches, levels, granularity, target, ranks):
    """The sweep; under torchrun each process scores its share of the (layer, level) pairs, and the
    first one shows its own share's progress."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    from ..compression.workflows.sensitivity import sensitivity_sweep

    with Progress(*columns, console=console, transient=True, disable=not ranks.is_main) as progress:
        task = progress.add_task("sensitivity", total=None)
        return sensitivity_sweep(model, batches, levels, granularity, target,
                                 progress=lambda done, total: progress.update(task, completed=done, total=total),
                                 split=ranks.enabled)


def _processes(ranks) -> str:
    return f" shared by {ranks.world_size} processes" if ranks.world_size > 1 else ""


def _baseline(rows, model, batches, target) -> float:
    """The level-0 rows already hold the unpruned top-1; evaluate it only when no level 0 was swept."""
    from ..compression.workflows.sensitivity import baseline_top1, dense_top1

    top1 = dense_top1(rows)
    return baseline_top1(model, batches, target) if top1 is None else top1


def _write(rows, schedule, folder: Path, warnings):
    from ..compression.workflows.sensitivity_outputs import write_csv, write_plot, write_tensorboard, write_text

    paths = {"csv": folder / "sensitivity.csv", "png": folder / "sensitivity.png",
             "schedule": folder / "suggested_schedule.yaml"}
    write_csv(rows, paths["csv"], warnings)
    write_plot(rows, paths["png"])
    write_tensorboard(rows, folder / "tensorboard")
    write_text(schedule, paths["schedule"])
    return paths


def _render(rows, layers, baseline, tolerance):
    top1 = {(row.parameter, row.sparsity): row.top1 for row in rows}
    table_rows = [(name, f"{level:.0%}", f"{top1.get((name, level), baseline):.2f}") for name, level in layers.items()]
    render_table(f"largest sparsity within {tolerance:g} top-1 points of {baseline:.2f}",
                 ["parameter", "sparsity", "top1"], table_rows)
