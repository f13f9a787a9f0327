"""Early exit (BranchyNet, Distiller's --earlyexit_* flags): the `early_exit:` section, the weighted
training loss of the exits, and evaluation with exits taken, timed against the full model."""
from .evaluation import EarlyExitResult, early_exit_report, evaluate_early_exit, time_early_exit
from .loss import EarlyExitLoss
from .section import (EarlyExitSection, check_early_exit, early_exit_models, flag_values, parse_float_list,
                      with_flags)

__all__ = ["EarlyExitLoss", "EarlyExitResult", "EarlyExitSection", "check_early_exit", "early_exit_report",
           "early_exit_models", "evaluate_early_exit", "flag_values", "parse_float_list", "time_early_exit",
           "with_flags"]
