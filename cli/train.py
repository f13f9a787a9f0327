"""`compressor train`: run a schedule end to end and write the run folder."""
from __future__ import annotations

import click

from ..compression.checkpoint import load_checkpoint
from ..compression.errors import UserError
from ..compression.schedule import load_schedule, parse_schedule_text
from ..compression.training import TrainOptions, apply_overrides, fit, prepare_run
from .common import console, dataset_options, emit_json, json_option, model_options, render_mapping
from .progress import RichReporter


@click.command()
@click.option("--schedule", "schedule_path", type=click.Path(), help="Schedule YAML file.")
@model_options
@dataset_options
@click.option("--epochs", type=int, help="Number of epochs (overrides training.epochs).")
@click.option("--lr", type=float, help="Initial learning rate.")
@click.option("--seed", type=int, help="Seed for weights, data order and dropout.")
@click.option("--device", help="cpu, cuda, cuda:N or auto.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default runs/<schedule>-<timestamp>).")
@click.option("--resume", type=click.Path(dir_okay=False), help="Continue from this checkpoint.pt.")
@json_option
def train(schedule_path, checkpoint, arch, pretrained, dataset, data_dir, batch_size, workers,
          epochs, lr, seed, device, out, resume, as_json):
    """Train and compress a model as the schedule says; write the run folder.

    \b
    Examples:
      compressor train --schedule schedules/digits_baseline.yaml
      compressor train --schedule schedules/digits_baseline.yaml --epochs 5 --out runs/quick
      compressor train --resume runs/quick/checkpoint.pt --epochs 10
    """
    schedule = _schedule(schedule_path, resume)
    options = TrainOptions(arch=arch, pretrained=pretrained, checkpoint=checkpoint, dataset=dataset,
                           data_dir=data_dir, batch_size=batch_size, workers=workers, epochs=epochs,
                           lr=lr, seed=seed, device=device, out=out)
    run = prepare_run(apply_overrides(schedule, options), resume=resume)
    if run.start_epoch >= run.epochs:
        raise UserError(f"nothing to do: the checkpoint has finished {run.start_epoch} of {run.epochs} epochs "
                        "(raise --epochs to train further)")
    console.print(f"training {run.info.name} on {run.schedule.dataset.name} -> {run.folder.path}", highlight=False)
    report = fit(run, None if as_json else RichReporter())
    if as_json:
        emit_json(report)
    else:
        render_mapping("result (best model on the test split)", report)


def _schedule(schedule_path, resume):
    if schedule_path:
        return load_schedule(schedule_path)
    if resume:
        payload = load_checkpoint(resume)
        return parse_schedule_text(payload.get("schedule_text", ""), f"schedule in {resume}")
    raise UserError("give --schedule FILE (or --resume CKPT to continue a run)")
