"""Entry point: the command group and the mapping of errors to exit statuses (0, 2 user error, 1 failure)."""
from __future__ import annotations

import os
import sys
import traceback

import click

from ..compression.errors import TrainingDiverged, TrainingInterrupted, UserError
from .benchmark import benchmark
from .common import console
from .evaluate import evaluate
from .export import export
from .list_cmd import list_command
from .quantize import quantize
from .schema import schema
from .sensitivity import sensitivity
from .summary import summary
from .thin import thin
from .train import train
from .validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="compressor")
def cli() -> None:
    """Make PyTorch image classifiers smaller and faster from one YAML schedule.

    \b
    Examples:
      compressor train --schedule schedules/digits_baseline.yaml
      compressor summary --arch resnet18
      compressor list models
    """


for command in (train, evaluate, summary, benchmark, validate, schema, list_command, thin, quantize, export, sensitivity):
    cli.add_command(command)


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
