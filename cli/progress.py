"""Rich progress bars and per-epoch lines on stderr for the training loop."""
from __future__ import annotations

from typing import Any, Dict

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..compression.training.reporting import Reporter
from .common import console


class RichReporter(Reporter):
    def __init__(self):
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)
        self._epochs = self._steps = None

    def on_fit_begin(self, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        self._progress.start()
        self._epochs = self._progress.add_task("epochs", total=epochs, completed=start_epoch)
        self._steps = self._progress.add_task(f"epoch {start_epoch}", total=steps_per_epoch)

    def on_step_end(self, epoch: int, step: int, steps_per_epoch: int) -> None:
        self._progress.update(self._steps, completed=step + 1, description=f"epoch {epoch}")

    def on_epoch_end(self, record: Dict[str, Any]) -> None:
        self._progress.advance(self._epochs)
        self._progress.reset(self._steps)
        extra = "".join(f"  {k} {v:.4f}" for k, v in record.items()
                        if k.endswith("_loss") and k not in ("train_loss", "val_loss"))
        self._progress.console.print(
            f"epoch {record['epoch']:>3}  train_loss {record['train_loss']:.4f}  val_loss {record['val_loss']:.4f}"
            f"  top1 {record['top1']:6.2f}  top5 {record['top5']:6.2f}  lr {record['lr']:.3g}"
            f"  sparsity {record['sparsity']:.1%}{extra}", highlight=False, soft_wrap=True)

    def on_warning(self, message: str) -> None:
        self._progress.console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)

    def on_fit_end(self) -> None:
        self._progress.stop()


class WarningPrinter(Reporter):
    """No progress (`--json`): only the warnings found during training, on stderr."""

    def on_warning(self, message: str) -> None:
        console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
