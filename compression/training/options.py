"""The options of `train` and `validate`, each declared once: its type, its help, what it overrides.

The command line builds its flags from these fields; `apply_overrides` writes them into the
schedule's sections and validates them as if the file had said so.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Optional, Tuple


def _option(help_text: str, overrides: Optional[Tuple[str, str]] = None, kind: type = str,
            aliases: Tuple[str, ...] = ()) -> Any:
    """A field whose value None keeps what the schedule says; `overrides` = (section, field);
    `aliases`: other spellings of the flag."""
    return field(default=None, metadata={"help": help_text, "overrides": overrides, "kind": kind,
                                         "aliases": aliases})


DEFAULT_ARCH = "digits_cnn"  # the model of a schedule that names none

@dataclass
class TrainOptions:
    """Command-line values; None keeps what the schedule says."""

    arch: Optional[str] = _option("Model name (see `compressor list models`) or package.module:factory.",
                                  ("model", "arch"))
    weights: Optional[str] = _option("Start from this state_dict file (or a torchvision weights enum, from the "
                                     "local cache).", ("model", "weights"))
    pretrained: Optional[bool] = _option("Pretrained weights from the local torch cache.", ("model", "pretrained"),
                                         bool)
    checkpoint: Optional[str] = _option("Start from this checkpoint's model and weights.", ("model", "checkpoint"))
    num_classes: Optional[int] = _option("Classes of the model's output (default: the model's own).",
                                         ("model", "num_classes"), int)
    input_size: Optional[str] = _option("Input shape C,H,W of one image (default: the model's own).",
                                        ("model", "input_size"))
    dataset: Optional[str] = _option("Dataset name (default: the model's own).", ("dataset", "name"))
    data_dir: Optional[str] = _option("Folder with the dataset files.", ("dataset", "data_dir"))
    batch_size: Optional[int] = _option("Images per batch.", ("dataset", "batch_size"), int)
    workers: Optional[int] = _option("Data loading processes.", ("dataset", "workers"), int)
    epochs: Optional[int] = _option("Number of epochs (overrides training.epochs).", ("training", "epochs"), int)
    lr: Optional[float] = _option("Initial learning rate.", ("training", "lr"), float)
    seed: Optional[int] = _option("Seed for weights, data order and dropout.", ("training", "seed"), int)
    device: Optional[str] = _option("cpu, cuda, cuda:N or auto.", ("training", "device"))
    out: Optional[str] = _option("Run folder (default runs/<schedule>-<timestamp>).", ("training", "out"))
    precision: Optional[str] = _option("fp32, bf16 or fp16: autocast in training and evaluation (fp16 with a "
                                       "gradient scaler).", ("training", "precision"))
    channels_last: Optional[bool] = _option("Model and input batches in channels-last memory format.",
                                            ("training", "channels_last"), bool)
    compile: Optional[bool] = _option("Train through torch.compile (eager, with a warning, where it fails).",
                                      ("training", "compile"), bool)
    skip_latency: Optional[bool] = _option("Do not time the models for the end-of-run report.",
                                           ("training", "skip_latency"), bool)
    resume: Optional[str] = _option("Continue from this checkpoint.pt.")
    overwrite: Optional[bool] = _option("Replace the run in --out: the old folder is moved aside whole, to "
                                        "<out>.replaced-<timestamp>.", kind=bool)
    strict: Optional[bool] = _option("Refuse to run when a policy is due after the last epoch (instead of a "
                                     "warning).", kind=bool)
    kd_teacher: Optional[str] = _option("Distil from this teacher: a checkpoint file or a model name.")
    kd_temp: Optional[float] = _option("Distillation temperature.", ("distillation", "temperature"), float)
    kd_distill_wt: Optional[float] = _option("Weight of the distillation loss.", ("distillation", "distill_weight"),
                                             float)
    kd_student_wt: Optional[float] = _option("Weight of the student's cross-entropy.",
                                             ("distillation", "student_weight"), float)
    kd_teacher_wt: Optional[float] = _option("Distiller's teacher weight (the teacher is frozen).",
                                             ("distillation", "teacher_weight"), float)
    kd_start_epoch: Optional[int] = _option("First epoch that distils.", ("distillation", "start_epoch"), int)
    kd_end_epoch: Optional[int] = _option("Epoch from which the loss is the labels' alone (exclusive end of "
                                          "distillation).", ("distillation", "end_epoch"), int)
    earlyexit_thresholds: Optional[str] = _option(
        "Early exit: one softmax-entropy threshold per exit, comma-separated (e.g. 0.4 or 1.2,0.9).",
        ("early_exit", "thresholds"), aliases=("--earlyexit_thresholds",))
    earlyexit_lossweights: Optional[str] = _option(
        "Early exit: one loss weight per exit, comma-separated; the final exit gets 1 - their sum.",
        ("early_exit", "loss_weights"), aliases=("--earlyexit_lossweights",))


def overridden_fields(section: str) -> Dict[str, str]:
    """Option name -> field of `section` that it overrides."""
    return {option.name: option.metadata["overrides"][1] for option in fields(TrainOptions)
            if option.metadata["overrides"] and option.metadata["overrides"][0] == section}


# where the run is written and how a refusal is decided: not how the run computes, so --resume does not carry them
_NOT_RECORDED = ("resume", "out", "overwrite", "strict")


def recorded_options(options: TrainOptions) -> Dict[str, Any]:
    """The options given that shape the run, as a checkpoint records them for --resume."""
    return {option.name: getattr(options, option.name) for option in fields(TrainOptions)
            if option.name not in _NOT_RECORDED and getattr(options, option.name) is not None}


def with_recorded(options: TrainOptions, recorded: Dict[str, Any]) -> TrainOptions:
    """`options` with the values a checkpoint recorded where they say nothing: a resumed run goes on with the
    --epochs, --batch-size, --kd-teacher, ... it was started with, unless given again."""
    known = {option.name for option in fields(TrainOptions)} - set(_NOT_RECORDED)
    missing = {name: value for name, value in recorded.items() if name in known and getattr(options, name) is None}
    return replace(options, **missing)
