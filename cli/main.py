"""Entry point: the command group and the mapping of errors to exit statuses (0, 2 user error, 1 failure)."""
from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Callable, List, Optional, Tuple

import click

from ..compression.core.errors import TrainingDiverged, TrainingInterrupted, UserError, did_you_mean, first_line
from .common import console
from .distiller_flags import explain_distiller_flag

# command -> (module of compressor.cli, click command in it, the first line of its help). A command's
# module is imported only when that command runs, so each command loads what it uses and no more,
# and `compressor --help` lists them all without importing any.
COMMANDS = {
    "train": ("train", "train", "Train and compress a model as the schedule says; write the run folder."),
    "evaluate": ("evaluate", "evaluate", "Evaluate a model on the test split of its dataset."),
    "summary": ("summary", "summary",
                "Per-layer table: shape, parameters, non-zeros, sparsity, zeroed filters/channels, MACs."),
    "benchmark": ("benchmark", "benchmark",
                  "Latency and throughput of a model and of a comparison, in one interleaved run, and `speedup`."),
    "validate": ("validate", "validate", "Check a schedule as `train` would, with the same options, running nothing."),
    "schema": ("schema", "schema", "Print the JSON Schema of the schedule file (for editor validation and completion)."),
    "list": ("list_cmd", "list_command",
             "List pruners, quantizers, regularizers, lr_schedulers, extensions, models or datasets."),
    "thin": ("thin", "thin",
             "Remove zeroed filters/channels and everything that depends on them; outputs stay the same."),
    "quantize": ("quantize", "quantize",
                 "Quantize a trained model: collect activation statistics, then build a real int8 model."),
    "export": ("export", "export",
               "Write a deployable file, run it once in onnxruntime, torch.export, TorchScript or OpenVINO; "
               "compare with PyTorch."),
    "sensitivity": ("sensitivity", "sensitivity",
                    "Sweep each Conv/Linear layer's sparsity alone; write CSV, plot, TensorBoard and a suggested "
                    "schedule."),
    "auto": ("auto", "auto",
             "Compress a checkpoint to a cost target within an accuracy tolerance, no per-layer ratios to set."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> List[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(f"{__package__}.{module}"), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from COMMANDS, without importing the commands."""
        width = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shortened(summary, width)) for name, (_, _, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: List[str]):
        if args and not args[0].startswith("-") and args[0] not in COMMANDS:
            raise click.UsageError(did_you_mean(args[0], COMMANDS, "command"), ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="compressor")
def cli() -> None:
    """Make PyTorch image classifiers smaller and faster from one YAML schedule.

    \b
    Examples:
      compressor train --schedule schedules/digits_baseline.yaml
      compressor summary --arch resnet18
      compressor list models
    """


def _shortened(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 3, 10)].rsplit(" ", 1)[0] + "..."


def main(argv=None) -> None:
    sys.exit(run(argv))


def run(argv=None) -> int:
    try:
        cli.main(args=argv, prog_name="compressor", standalone_mode=False)
        return 0
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001  (every ending gets its status and one message)
        status, say = _ending(err)
        if _first_process():
            say()
        elif status == 1 and not isinstance(err, TrainingDiverged):  # a failure may be this process's alone
            console.print(f"[bold red]failed[/] (process {os.environ.get('RANK')}): {type(err).__name__}: "
                          f"{_escape(first_line(err))}", highlight=False, soft_wrap=True)
        return status


def _first_process() -> bool:
    """Under torchrun the processes meet the same mistakes and signals: the first one says them (every one
    with COMPRESSOR_DEBUG set)."""
    return os.environ.get("RANK", "0") == "0" or bool(os.environ.get("COMPRESSOR_DEBUG"))


def _ending(err: BaseException) -> Tuple[int, Callable[[], None]]:
    """The exit status for `err` (0 done, 2 the user's mistake, 1 a failure, 128+N a signal) and what says it."""
    def say(text: str) -> Callable[[], None]:
        return lambda: console.print(text, highlight=False, soft_wrap=True)

    if isinstance(err, click.exceptions.Exit):
        return err.exit_code, lambda: None
    if isinstance(err, click.NoSuchOption):
        explain_distiller_flag(err)
    if isinstance(err, click.ClickException):
        return 2, err.show
    if isinstance(err, UserError):
        return 2, say(f"[bold red]error:[/] {_escape(str(err))}")
    if isinstance(err, TrainingDiverged):
        return 1, say(f"[bold red]diverged:[/] {_escape(str(err))}; the last checkpoint is kept as it was")
    if isinstance(err, TrainingInterrupted):
        return err.exit_code, say(f"[bold yellow]interrupted:[/] {_escape(str(err))}")
    if isinstance(err, click.Abort):
        return 130, say("aborted")
    if isinstance(err, KeyboardInterrupt):
        return 130, say("interrupted")
    return 1, lambda: _say_failure(err)


def _say_failure(err: BaseException) -> None:
    """A failure of ours, not a user mistake."""
    if os.environ.get("COMPRESSOR_DEBUG"):
        traceback.print_exception(err)
    console.print(f"[bold red]failed:[/] {type(err).__name__}: {_escape(first_line(err))} "
                  "(set COMPRESSOR_DEBUG=1 for the traceback)", highlight=False, soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
