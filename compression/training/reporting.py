"""What the loop tells its caller about progress; the CLI renders it, the library never prints."""
from __future__ import annotations

from typing import Any, Dict


class Reporter:
    """Receives progress events. The default does nothing."""

    def on_fit_begin(self, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        pass

    def on_step_end(self, epoch: int, step: int, steps_per_epoch: int) -> None:
        pass

    def on_epoch_end(self, record: Dict[str, Any]) -> None:
        pass

    def on_fit_end(self) -> None:
        pass
