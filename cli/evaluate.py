"""`compressor evaluate`: loss, top-1, top-5 and sparsity of a model on its test split."""
from __future__ import annotations

import click
import torch

from ..compression.device import resolve_device
from ..compression.evaluation import evaluate as evaluate_loader
from ..compression.model_source import load_model, test_loader
from ..compression.sparsity import model_sparsity
from .common import dataset_options, emit_json, json_option, model_options, render_mapping, threads_option
from .options import dataset_config


@click.command()
@model_options
@dataset_options
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@threads_option
@json_option
def evaluate(checkpoint, arch, pretrained, weights, num_classes, input_size, dataset, data_dir, batch_size, workers, device, as_json):
    """Evaluate a model on the test split of its dataset.

    \b
    Examples:
      compressor evaluate --checkpoint runs/digits_baseline-x/best.pt
      compressor evaluate --arch resnet18 --dataset fake --json
    """
    loaded = load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size)
    config = dataset_config(loaded.dataset, dataset, data_dir, batch_size, workers, loaded.dataset_options)
    target = resolve_device(device)
    result = evaluate_loader(loaded.model.to(target), test_loader(loaded, config), torch.nn.CrossEntropyLoss(), target)
    data = {"arch": loaded.info.name, "dataset": config.name, "samples": result.samples, "loss": result.loss,
            "top1": result.top1, "top5": result.top5, "sparsity": model_sparsity(loaded.model)}
    if as_json:
        emit_json(data)
    else:
        render_mapping("evaluation", data)
