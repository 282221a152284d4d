"""Stopping cleanly on Ctrl-C (SIGINT) or SIGTERM: finish the current step, write a checkpoint, exit.

A second Ctrl-C stops at once (``KeyboardInterrupt``, no checkpoint). SIGTERM, which torchrun sends its
workers when it is interrupted itself and schedulers send before preemption, only ever asks politely.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch

from lstm2d.train.distributed import Processes, sum_across

Handler = Callable[[int, FrameType | None], Any] | int | None
"""What ``signal.signal`` takes and returns: a function, ``SIG_DFL`` / ``SIG_IGN``, or None (a handler not set from Python)."""


class StopRequest:
    """A context manager that turns SIGINT / SIGTERM into a flag the training loop polls between steps."""

    def __init__(self, *, announce: bool = True) -> None:
        self.signal: int | None = None
        self.announce = announce
        self._previous: dict[int, Handler] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def request(self, signum: int = signal.SIGINT) -> None:
        self.signal = self.signal or signum

    def agreed(self, processes: Processes, device: torch.device) -> bool:
        """Whether any process was asked to stop (every process must call this at the same steps)."""
        if not processes.distributed:
            return self.requested
        flag = torch.tensor([1.0 if self.requested else 0.0], device=device)
        return bool(sum_across(flag, processes).item() > 0)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT and self.signal == signal.SIGINT:
            raise KeyboardInterrupt
        if not self.requested and self.announce:
            name = signal.Signals(signum).name
            print(
                f"\n{name}: finishing this step, then writing a checkpoint (Ctrl-C again to stop without one)",
                file=sys.stderr,
                flush=True,
            )
        self.request(signum)
