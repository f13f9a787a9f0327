"""Entry point: the command group and the mapping of errors to exit statuses (0, 2 user error, 1 failure)."""
from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import List, Optional

import click

from ..compression.core.errors import TrainingDiverged, TrainingInterrupted, UserError, did_you_mean
from .common import console

# command -> (module of compressor.cli, click command in it); a command's module is imported only
# when that command runs, so each command loads what it uses and no more.
COMMANDS = {
    "train": ("train", "train"), "evaluate": ("evaluate", "evaluate"), "summary": ("summary", "summary"),
    "benchmark": ("benchmark", "benchmark"), "validate": ("validate", "validate"), "schema": ("schema", "schema"),
    "list": ("list_cmd", "list_command"), "thin": ("thin", "thin"), "quantize": ("quantize", "quantize"),
    "export": ("export", "export"), "sensitivity": ("sensitivity", "sensitivity"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> List[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        return getattr(importlib.import_module(f"{__package__}.{module}"), attribute)

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


def main(argv=None) -> None:
    sys.exit(run(argv))


def run(argv=None) -> int:
    try:
        cli.main(args=argv, prog_name="compressor", standalone_mode=False)
        return 0
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as err:
        err.show()
        return 2
    except UserError as err:
        console.print(f"[bold red]error:[/] {_escape(str(err))}", highlight=False, soft_wrap=True)
        return 2
    except TrainingDiverged as err:
        console.print(f"[bold red]diverged:[/] {_escape(str(err))}; the last checkpoint is kept as it was",
                      highlight=False, soft_wrap=True)
        return 1
    except TrainingInterrupted as err:
        console.print(f"[bold yellow]interrupted:[/] {_escape(str(err))}", highlight=False, soft_wrap=True)
        return err.exit_code
    except click.Abort:
        console.print("aborted", highlight=False)
        return 130
    except KeyboardInterrupt:
        console.print("interrupted", highlight=False)
        return 130
    except Exception as err:  # a failure of ours, not a user mistake
        if os.environ.get("COMPRESSOR_DEBUG"):
            traceback.print_exc()
        detail = str(err).splitlines()[0] if str(err) else ""
        console.print(f"[bold red]failed:[/] {type(err).__name__}: {_escape(detail)} "
                      "(set COMPRESSOR_DEBUG=1 for the traceback)", highlight=False, soft_wrap=True)
        return 1


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
