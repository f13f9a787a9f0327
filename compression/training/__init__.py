"""The training loop, its run folder and the set-up that builds a run from a schedule."""
from ..core.lazy import lazy_exports


__getattr__, __dir__ = lazy_exports(__name__, {
    "EvalResult": "..evaluation",
    "Reporter": ".reporting",
    "Run": ".run",
    "RunParts": ".setup",
    "TrainOptions": ".options",
    "apply_overrides": ".overrides",
    "build_run_parts": ".setup",
    "evaluate": "..evaluation",
    "fit": ".loop",
    "prepare_run": ".setup",
    "train_one_epoch": ".loop",
})
__all__ = sorted(__dir__())
