"""`compressor evaluate`: loss, top-1, top-5 and sparsity of a model on its test split."""
from __future__ import annotations

import click

from .common import dataset_options, emit_json, json_option, model_options, render_mapping, threads_option
from .early_exit_render import render_early_exit
from .options import dataset_config


@click.command()
@model_options
@dataset_options
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--earlyexit-thresholds", "--earlyexit_thresholds", "earlyexit_thresholds",
              help="Take early exits: one softmax-entropy threshold per exit, comma-separated (e.g. 0.4 or 1.2,0.9); "
                   "reports top-1 with exits taken, each exit's share and the measured speed-up.")
@click.option("--earlyexit-lossweights", "--earlyexit_lossweights", "earlyexit_lossweights",
              help="With --earlyexit-thresholds: one loss weight per exit; also reports the weighted training loss.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"], case_sensitive=False),
              help="Evaluate under autocast in this precision (default: the one the checkpoint's run trained and "
                   "validated in, else fp32).")
@threads_option
@json_option
def evaluate(checkpoint, arch, pretrained, weights, num_classes, input_size, dataset, data_dir, batch_size, workers,
             device, earlyexit_thresholds, earlyexit_lossweights, precision, as_json):
    """Evaluate a model on the test split of its dataset.

    \b
    Examples:
      compressor evaluate --checkpoint runs/digits_baseline-x/best.pt
      compressor evaluate --arch resnet18 --dataset fake --json
      compressor evaluate --checkpoint runs/ee/best.pt --earlyexit-thresholds 0.8
    """
    import torch  # torch and the library load here, not for `--help`

    from ..compression.device import resolve_device
    from ..compression.evaluation import evaluate as evaluate_loader
    from ..compression.model_source import load_model, test_loader
    from ..compression.packing_int8 import int8_module
    from ..compression.sparsity import model_sparsity
    from ..compression.training.precision import build_precision

    loaded = load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size)
    config = dataset_config(loaded.dataset, dataset, data_dir, batch_size, workers, loaded.dataset_options)
    int8 = int8_module(loaded)  # a packed int8 file evaluates as its int8 model, on the CPU
    target = resolve_device(device) if int8 is None else torch.device("cpu")
    loader = test_loader(loaded, config)
    numerics = build_precision((precision or (loaded.checkpoint or {}).get("precision") or "fp32").lower(), target)
    with numerics.autocast():
        early_exit = _early_exit(loaded, loader, earlyexit_thresholds, earlyexit_lossweights, target)
        result = evaluate_loader((int8 or loaded.model).to(target), loader, torch.nn.CrossEntropyLoss(), target)
    data = {"arch": loaded.info.name, "dataset": config.name, "samples": result.samples, "loss": result.loss,
            "top1": result.top1, "top5": result.top5, "sparsity": model_sparsity(loaded.model),
            "precision": numerics.name, **({"int8": True} if int8 is not None else {})}
    if early_exit is not None:
        data["early_exit"] = early_exit
    if as_json:
        emit_json(data)
        return
    render_mapping("evaluation", {key: value for key, value in data.items() if key != "early_exit"})
    if early_exit is not None:
        render_early_exit(early_exit)


def _early_exit(loaded, loader, thresholds, loss_weights, device):
    """The early-exit figures when the flags ask for them, else None."""
    from ..compression.early_exit import early_exit_report, flag_values, with_flags

    flags = flag_values({"thresholds": thresholds, "loss_weights": loss_weights})
    if not flags:
        return None
    return early_exit_report(loaded.model, loader, with_flags(None, flags), loaded.info.name, device)
