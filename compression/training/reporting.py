"""What the loop tells its caller about progress; the CLI renders it, the library never prints."""
from __future__ import annotations

import time
from typing import Any, Dict, List


class Reporter:
    """Receives progress events. The default does nothing."""

    def on_fit_begin(self, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        pass

    def on_step_end(self, epoch: int, step: int, steps_per_epoch: int) -> None:
        pass

    def on_epoch_end(self, record: Dict[str, Any]) -> None:
        pass

    def on_warning(self, message: str) -> None:
        """Something found during training that the user should know (one line)."""

    def on_fit_end(self) -> None:
        pass


class EpochTimer(Reporter):
    """Wall time of each epoch (training, validation, logging and checkpoint)."""

    def __init__(self):
        self.times: List[float] = []
        self._last = 0.0

    def on_fit_begin(self, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        self._last = time.perf_counter()

    def on_epoch_end(self, record: Dict[str, Any]) -> None:
        now = time.perf_counter()
        self.times.append(now - self._last)
        self._last = now
