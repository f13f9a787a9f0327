"""`compressor schema`: the JSON Schema of the schedule file."""
from __future__ import annotations

import json

import click

from ..compression.catalog import read_catalog


@click.command()
def schema():
    """Print the JSON Schema of the schedule file (for editor validation and completion).

    \b
    Example:
      compressor schema > schedule.schema.json
    """
    click.echo(json.dumps(read_catalog()["schedule_schema"], indent=2))
