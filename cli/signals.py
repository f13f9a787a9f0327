"""SIGINT and SIGTERM ask a training to stop after its current step (a second Ctrl-C stops at once)."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from ..compression.training.stopping import StopRequest

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        yield stop
        return

    def handler(number, _frame):
        if stop.requested and number == signal.SIGINT:
            raise KeyboardInterrupt
        stop.request(number)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
