"""`auto`'s files beside the fine-tuning run: report.json, the rounds, a PNG of kept fractions, TensorBoard."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Sequence

from ..core.checkpoint import atomic_write
from .auto_greedy import Round
from .auto_state import round_record


def write_json(data: Any, path: Path) -> None:
    text = json.dumps(data, indent=2, default=str)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_kept_plot(layers: Sequence[Dict[str, Any]], path: Path, title: str) -> None:
    """One horizontal bar per searched group: the fraction of its filters kept."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = [layer["layer"] for layer in layers]
    kept = [layer["kept_fraction"] for layer in layers]
    figure = Figure(figsize=(7, max(2.5, 0.3 * len(names) + 1.2)))
    axes = figure.add_subplot(1, 1, 1)
    positions = list(range(len(names)))
    axes.barh(positions, kept, color="tab:blue")
    axes.set_yticks(positions, names, fontsize="small")
    axes.invert_yaxis()  # the first layer of the model on top
    axes.set_xlim(0, 1.15)  # room for the counts after a full bar
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_xlabel("fraction of filters (a Linear layer: rows) kept")
    axes.set_title(title, fontsize="medium")
    axes.grid(True, axis="x", alpha=0.3)
    for position, value, layer in zip(positions, kept, layers):
        axes.text(value + 0.01, position, f"{layer['kept']}/{layer['channels']}", va="center",
                  fontsize="x-small")
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))


def write_round_scalars(rounds: Sequence[Round], folder: Path, kind: str) -> None:
    """Scalars per search round, in the run folder's TensorBoard events: `auto/<kind>_ratio`,
    `auto/val_top1`, `auto/candidates` and `auto/channels/<layer>`."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder), filename_suffix=".auto")
    try:
        for r in rounds:
            writer.add_scalar(f"auto/{kind}_ratio", r.ratio, r.number)
            writer.add_scalar("auto/val_top1", r.top1, r.number)
            writer.add_scalar("auto/candidates", r.candidates, r.number)
            for layer, channels in r.channels.items():
                writer.add_scalar(f"auto/channels/{layer}", channels, r.number)
    finally:
        writer.close()


def write_outputs(folder: Path, rounds: Sequence[Round], report: Dict[str, Any]) -> Dict[str, str]:
    """report.json (replacing the fine-tuning run's own, which it holds as `finetune`), search.json
    (every round), kept_fractions.png and the rounds' TensorBoard scalars. Returns the files by role."""
    files = {"report": folder / "report.json", "rounds": folder / "search.json", "plot": folder / "kept_fractions.png"}
    target = report["target"]
    write_kept_plot(report["layers"], files["plot"],
                    f"filters kept: {target['kind']} {report['reached']:.2f} of dense (target {target['ratio']:g})")
    write_json([round_record(r) for r in rounds], files["rounds"])
    write_round_scalars(rounds, folder, target["kind"])
    report["files"] = {role: str(path) for role, path in files.items()}
    write_json(report, files["report"])
    return report["files"]
