"""`compressor schema`: the JSON Schema of the schedule file."""
from __future__ import annotations

import json

import click

from ..compression.schedule.json_schema import schedule_json_schema


@click.command()
def schema():
    """Print the JSON Schema of the schedule file (for editor validation and completion).

    \b
    Example:
      compressor schema > schedule.schema.json
    """
    click.echo(json.dumps(schedule_json_schema(), indent=2))
