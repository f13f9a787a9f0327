"""Distiller's compress_classifier.py flags that are spelt differently here, or are a command of their own."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import click

_SPLIT = (None, "dataset: {split: [TRAIN, VAL, TEST]}")
_QE = ("quantize", "--checkpoint CKPT --stats FILE")
_OUT = ("train", "--out DIR")
_NAME = ("train", "--out DIR (the run folder)")

# Distiller's flag -> (the command that does it here, or None for a schedule key; what to write)
EQUIVALENTS: Dict[str, Tuple[Optional[str], str]] = {
    "--compress": ("train", "--schedule FILE"),
    "--out-dir": _OUT, "-o": _OUT, "--name": _NAME, "-n": _NAME,
    "-a": ("train", "--arch NAME"), "-b": ("train", "--batch-size N"), "-j": ("train", "--workers N"),
    "--learning-rate": ("train", "--lr LR"),
    "--momentum": (None, "training: {momentum: M}"),
    "--weight-decay": (None, "training: {weight_decay: W}"), "--wd": (None, "training: {weight_decay: W}"),
    "--resume-from": ("train", "--resume CKPT"),
    "--exp-load-weights-from": ("train", "--checkpoint CKPT (a compressor checkpoint) or --weights FILE "
                                         "(a state_dict)"),
    "--reset-optimizer": ("train", "--checkpoint CKPT (its weights, a fresh optimizer, from epoch 0)"),
    "--deterministic": ("train", "--seed N"), "--det": ("train", "--seed N"),
    "--gpus": ("train", "--device cuda:N (several GPUs: torchrun)"), "--cpu": ("train", "--device cpu"),
    "--validation-split": _SPLIT, "--valid-size": _SPLIT, "--vs": _SPLIT,
    "--evaluate": ("evaluate", "--checkpoint CKPT"), "-e": ("evaluate", "--checkpoint CKPT"),
    "--summary": ("summary", "--checkpoint CKPT"), "--masks-sparsity": ("summary", "--checkpoint CKPT"),
    "--thinnify": ("thin", "--checkpoint CKPT --out FILE"),
    "--sense": ("sensitivity", "--granularity element|filter|channel"),
    "--sense-range": ("sensitivity", "--sparsities START:STOP:STEP"),
    "--export-onnx": ("export", "--format onnx"),
    "--quantize-eval": _QE, "--qe": _QE,
    "--qe-stats-file": ("quantize", "--stats FILE"),
    "--qe-calibration": ("quantize", "--collect-stats FILE --calibration-size N"),
    "--qe-config-file": ("quantize", "--schedule FILE"),
    "--qe-mode": ("quantize", "--mode MODE"), "--qem": ("quantize", "--mode MODE"),
    "--qe-bits-acts": ("quantize", "--bits-activations N"), "--qeba": ("quantize", "--bits-activations N"),
    "--qe-bits-wts": ("quantize", "--bits-parameters N"), "--qebw": ("quantize", "--bits-parameters N"),
    "--qe-clip-acts": ("quantize", "--clip-acts MODE"), "--qeca": ("quantize", "--clip-acts MODE"),
    "--qe-per-channel": ("quantize", "--per-channel"), "--qepc": ("quantize", "--per-channel"),
    "--qe-lapq": ("quantize", "--lapq"),
    "--amc": ("auto", "--strategy amc"), "--greedy": ("auto", "--strategy greedy"),
    "--qe-bits-accum": (None, "bits_accum: 32 (PostTrainLinearQuantizer; the only width the int8 kernels run)"),
    "--qe-no-clip-layers": (None, "overrides: {LAYER: {clip_acts: NONE}} (PostTrainLinearQuantizer)"),
}

# Distiller's flags with nothing to write here, and what takes their place
NO_EQUIVALENT: Dict[str, str] = {
    "--print-freq": "the progress bar shows every step, and metrics.jsonl and TensorBoard every epoch",
    "--pf": "the progress bar shows every step, and metrics.jsonl and TensorBoard every epoch",
    "--confusion": "evaluate reports top-1, top-5 and loss",
    "--param-hist": "TensorBoard gets each epoch's scalars",
    "--activation-histograms": "quantize --collect-stats writes the activation ranges PTQ uses",
    "--act-stats": "quantize --collect-stats writes the activation ranges PTQ uses",
    "--load-serialized": "a checkpoint is loaded the same way whatever wrapped the model",
}

# the flags that are a command of their own here
_WHOLE_COMMANDS = {"--evaluate", "-e", "--summary", "--masks-sparsity", "--thinnify", "--sense", "--quantize-eval",
                   "--qe"}


def explain_distiller_flag(err: click.NoSuchOption) -> None:
    """Turn an unknown option that is one of Distiller's into what to write here instead."""
    found = EQUIVALENTS.get(err.option_name)
    if err.option_name in NO_EQUIVALENT:
        err.message = (f"No such option '{err.option_name}': Distiller's {err.option_name} has no equivalent here "
                       f"({NO_EQUIVALENT[err.option_name]}).")
        err.possibilities = None
        return
    if found is None:
        return
    command, equivalent = found
    if command is None:
        where = f"`{equivalent}` in the schedule file"
    elif command == _command_name(err.ctx) and err.option_name in _WHOLE_COMMANDS:
        where = f"this command here (give {equivalent})"
    elif command == _command_name(err.ctx) or _spelt_here(err):
        where = f"{equivalent} here"
    else:
        where = f"`compressor {command} {equivalent}` here"
    err.message = f"No such option '{err.option_name}': Distiller's {err.option_name} is {where}."
    err.possibilities = None


def _command_name(ctx: Optional[click.Context]) -> Optional[str]:
    return ctx.info_name if ctx is not None else None


def _spelt_here(err: click.NoSuchOption) -> bool:
    """The flags `train` shares with another command (`validate --schedule`, `sensitivity --out`) are named
    as they are; the other commands' flags are named with their command."""
    option = EQUIVALENTS[err.option_name][1].split()[0]
    return (EQUIVALENTS[err.option_name][0] == "train" and err.ctx is not None
            and any(option in param.opts for param in err.ctx.command.params))
