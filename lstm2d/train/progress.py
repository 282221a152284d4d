"""A one-line progress bar: batches done, running loss and samples per second."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 24
REFRESH_S = 0.1


class ProgressBar:
    """Progress through one epoch, redrawn in place on a terminal (at most every ``REFRESH_S``).

    Off a terminal (logs, CI) it draws nothing: the epoch's summary line carries the same numbers.
    ``loss`` is a callable so that reading it (a device sync on CUDA) happens only when drawing.
    """

    def __init__(self, *, label: str, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.label, self.total = label, total
        self.started = time.perf_counter()
        self.last_draw = 0.0

    def update(self, done: int, samples: int, loss: Callable[[], float]) -> None:
        """``done`` batches of ``total``; ``samples`` processed since this bar started (all processes)."""
        now = time.perf_counter()
        if not self.enabled or (now - self.last_draw < REFRESH_S and done < self.total):
            return
        self.last_draw = now
        filled = round(WIDTH * done / max(self.total, 1))
        rate = samples / max(now - self.started, 1e-9)
        bar = "#" * filled + "." * (WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} loss {loss():.4g} {rate:,.0f} samples/s ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (len(self.label) + WIDTH + 60) + "\r")
            self.stream.flush()
