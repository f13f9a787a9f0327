"""Options and rendering shared by the commands."""
from __future__ import annotations

import functools
import json
import math
from dataclasses import fields
from typing import Any, Callable, Dict, Iterable, Optional

import click
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
if not console.is_terminal:  # logs and pipes: do not squeeze tables into 80 columns
    console.width = max(console.width, 160)


def threads_option(func: Callable) -> Callable:
    """`--threads N` (default: the cores this process may use), set before the command runs."""
    @functools.wraps(func)
    def with_threads(*args, threads=None, **kwargs):
        from ..compression.device import use_threads

        use_threads(threads)
        return func(*args, **kwargs)

    return click.option("--threads", type=int,
                        help="CPU threads (default: the cores this process may use).")(with_threads)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(func)


class InputSize(click.ParamType):
    """C,H,W (or CxHxW) as a tuple of three ints."""

    name = "C,H,W"

    def convert(self, value, param, ctx):
        from ..compression.schedule.sections import parse_input_size

        if isinstance(value, tuple):
            return value
        try:
            return parse_input_size(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def model_options(func: Callable) -> Callable:
    func = click.option("--input-size", type=InputSize(),
                        help="Input shape of one image for --arch, C,H,W (default: the model's own).")(func)
    func = click.option("--num-classes", type=click.IntRange(min=1),
                        help="Classes of the model's output for --arch (default: the model's own).")(func)
    func = click.option("--pretrained", is_flag=True, default=None,
                        help="Pretrained weights from the local torch (or, for timm/, Hugging Face) cache, never "
                             "downloaded (with --arch).")(func)
    func = click.option("--weights", help="A state_dict file for --arch (or a torchvision weights enum, from the "
                                          "local cache).")(func)
    func = click.option("--arch", help="Model name (see `compressor list models`), timm/<name> or "
                                       "package.module:factory.")(func)
    return click.option("--checkpoint", type=click.Path(dir_okay=False), help="A compressor checkpoint.")(func)


DATA_DIR_HELP = "Folder with the dataset files (npz: the .npz or .pt file)."


def dataset_options(func: Callable) -> Callable:
    func = click.option("--workers", type=click.IntRange(min=0), help="Data loading processes.")(func)
    func = click.option("--batch-size", type=click.IntRange(min=1), help="Images per batch.")(func)
    func = click.option("--data-dir", type=click.Path(), help=DATA_DIR_HELP)(func)
    return click.option("--dataset", help="Dataset name (default: the model's own).")(func)


def options_from(declared: type, exclude: Iterable[str] = ()) -> Callable:
    """One flag per field of a library options dataclass, with the type and help declared there."""
    def decorate(func: Callable) -> Callable:
        for declared_field in reversed(fields(declared)):
            if declared_field.name in exclude:
                continue
            flags = ["--" + declared_field.name.replace("_", "-"), *declared_field.metadata.get("aliases", ())]
            kind, help_text = declared_field.metadata["kind"], declared_field.metadata["help"]
            if kind is bool:
                func = click.option(*flags, declared_field.name, is_flag=True, default=None, help=help_text)(func)
            else:
                func = click.option(*flags, declared_field.name, type=kind, help=help_text)(func)
        return func

    return decorate


def emit_json(data: Dict[str, Any]) -> None:
    click.echo(json.dumps(data, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def render_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]],
                 footer: Optional[Iterable[Any]] = None) -> None:
    table = Table(title=title, show_footer=footer is not None)
    footer = list(footer) if footer is not None else None
    rows = [list(row) for row in rows]
    for index, column in enumerate(columns):
        numeric = index > 0 and all(_looks_numeric(row[index]) for row in rows)
        table.add_column(column, justify="right" if numeric else "left",
                         footer=str(footer[index]) if footer else "")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)


def _looks_numeric(cell: Any) -> bool:
    text = str(cell).rstrip("%")
    return bool(text) and text.replace(",", "").replace(".", "").replace("x", "").replace("-", "").isdigit()


def speedup_text(result: Dict[str, Any]) -> str:
    """`1.52x (1.40x to 1.61x)`; a speed-up whose interval holds 1.0 is no gain and is not shown as one."""
    value, low, high = (result[key] for key in ("speedup", "speedup_low", "speedup_high"))
    interval = f"{low:.2f}x to {high:.2f}x"
    return f"{value:.2f}x ({interval})" if result["speedup_measurable"] else f"no measurable difference ({interval})"


def print_measurement_warnings(result: Dict[str, Any]) -> None:
    for warning in result.get("measurement_warnings") or []:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def size_text(count: int) -> str:
    """A file's size as every command's table gives it: kB under 100 kB, MB above."""
    return f"{count / 1e6:.2f} MB" if count >= 1e5 else f"{count / 1e3:.1f} kB"


def render_mapping(title: str, values: Dict[str, Any]) -> None:
    render_table(title, ["", "value"], [(key, format_value(value)) for key, value in values.items()])


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
