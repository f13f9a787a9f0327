"""Asking a running training to stop cleanly: after the step in progress, with a checkpoint."""
from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Dict, Optional


@dataclass
class StopRequest:
    """Set from outside the loop (the CLI's signal handlers); read by the loop after every step."""

    signal_number: Optional[int] = None

    def request(self, signal_number: int) -> None:
        if self.signal_number is None:
            self.signal_number = signal_number

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    @property
    def reason(self) -> str:
        if self.signal_number is None:
            return ""
        try:
            return signal.Signals(self.signal_number).name
        except ValueError:
            return f"signal {self.signal_number}"

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + (self.signal_number or 0)


@dataclass
class EpochProgress:
    """How far an epoch got: the next step to run and the training loss summed over the steps run (in a
    checkpoint: over every process, and how many processes ran the steps; None in files from before), each
    loss component (distillation, regularizers) summed over those steps, and the seconds they took."""

    step: int = 0
    loss_sum: float = 0.0
    seen: int = 0
    processes: Optional[int] = None
    component_sums: Dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def state_dict(self):
        return {"step": self.step, "loss_sum": self.loss_sum, "seen": self.seen, "processes": self.processes,
                "component_sums": dict(self.component_sums), "seconds": self.seconds}
