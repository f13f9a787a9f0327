"""The training loop, its run folder and the set-up that builds a run from a schedule."""
from ..evaluation import EvalResult, evaluate
from .loop import fit, train_one_epoch
from .options import TrainOptions
from .reporting import Reporter
from .run import Run
from .setup import RunParts, apply_overrides, build_run_parts, prepare_run

__all__ = ["EvalResult", "Reporter", "Run", "RunParts", "TrainOptions", "apply_overrides", "build_run_parts",
           "evaluate", "fit", "prepare_run", "train_one_epoch"]
