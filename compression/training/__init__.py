"""The training loop, its run folder and the set-up that builds a run from a schedule."""
from .loop import EvalResult, evaluate, fit, train_one_epoch
from .reporting import Reporter
from .run import Run
from .setup import TrainOptions, apply_overrides, prepare_run

__all__ = ["EvalResult", "Reporter", "Run", "TrainOptions", "apply_overrides", "evaluate", "fit",
           "prepare_run", "train_one_epoch"]
