"""Early exit (BranchyNet, Distiller's --earlyexit_* flags): the `early_exit:` section, the weighted
training loss of the exits, and evaluation with exits taken, timed against the full model."""
from ..core.lazy import lazy_exports


__getattr__, __dir__ = lazy_exports(__name__, {
    "EarlyExitLoss": ".loss",
    "EarlyExitResult": ".evaluation",
    "EarlyExitSection": ".section",
    "check_early_exit": ".section",
    "early_exit_models": ".section",
    "early_exit_report": ".evaluation",
    "evaluate_early_exit": ".evaluation",
    "flag_values": ".section",
    "parse_float_list": ".section",
    "time_early_exit": ".evaluation",
    "with_flags": ".section",
})
__all__ = sorted(__dir__())
