"""Sensitivity results as files: Distiller's CSV, a PNG plot, TensorBoard scalars, the suggested YAML."""
from __future__ import annotations

import csv
import math
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Union

from ..core.checkpoint import atomic_write
from .sensitivity import Row

CSV_HEADER = ("parameter", "sparsity", "top1", "top5", "loss")
PathLike = Union[str, Path]


def write_csv(rows: Sequence[Row], path: PathLike, warnings: Sequence[str] = ()) -> None:
    """Distiller's CSV; each warning a `# warning: ...` line above the header (none: Distiller's file as is)."""
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            for warning in warnings:
                handle.write("# warning: " + " ".join(warning.split()) + writer.dialect.lineterminator)
            writer.writerow(CSV_HEADER)
            for row in rows:
                writer.writerow([row.parameter, f"{row.sparsity:g}", f"{row.top1:.4f}",
                                 f"{row.top5:.4f}", f"{row.loss:.6f}"])

    atomic_write(path, write)


def write_text(text: str, path: PathLike) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    atomic_write(path, write)


def _curves(rows: Sequence[Row]) -> Dict[str, List[Row]]:
    curves: Dict[str, List[Row]] = {}
    for row in rows:
        curves.setdefault(row.parameter, []).append(row)
    return {name: sorted(points, key=lambda r: r.sparsity) for name, points in curves.items()}


def write_plot(rows: Sequence[Row], path: PathLike, title: str = "pruning sensitivity") -> None:
    """Top-1 against sparsity, one line per layer; the legend sits beside the axes in columns."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    curves = _curves(rows)
    columns = max(1, math.ceil(len(curves) / 25))
    figure = Figure(figsize=(8 + 3.2 * columns, max(5.0, 0.2 * len(curves) / columns + 1.5)))
    axes = figure.add_subplot(1, 1, 1)
    colors = matplotlib.colormaps["tab20"] if len(curves) > 10 else matplotlib.colormaps["tab10"]
    for index, (name, points) in enumerate(curves.items()):
        style = ("-", "--", ":", "-.")[(index // colors.N) % 4]
        axes.plot([p.sparsity for p in points], [p.top1 for p in points], style, marker=".",
                  color=colors(index % colors.N), label=name, linewidth=1.2)
    axes.set_xlabel("sparsity")
    axes.set_ylabel("top-1 (%)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=columns, fontsize="x-small", frameon=False)
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))


def write_tensorboard(rows: Sequence[Row], folder: PathLike) -> Path:
    """Scalars `sensitivity/<parameter>` (top-1) at step int(sparsity*100), written then moved into place."""
    from torch.utils.tensorboard import SummaryWriter

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        writer = SummaryWriter(log_dir=str(staging))
        for row in rows:
            writer.add_scalar(f"sensitivity/{row.parameter}", row.top1, int(round(row.sparsity * 100)))
        writer.close()
        if folder.exists():
            shutil.rmtree(folder)
        staging.replace(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder
