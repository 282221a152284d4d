"""Peak memory of a step, measured the same way for every framework.

CPU: the process's resident set. tracemalloc sees only Python's own allocations, and each
framework has its own allocator (ATen's, TensorFlow's BFC, XLA's), so the one measure they
share is what the operating system holds for the process. Every case runs in a fresh
process; :class:`RssProbe` records the resident set once the framework is imported and
initialised (``baseline``), and after warm-up resets the kernel's high-water mark
(``/proc/self/clear_refs``, Linux) so the peak covers only the timed steps. The reported
figure is ``peak - baseline``: the model, its optimizer state, the batch, the step's working
set and whatever the framework's allocator keeps cached for it, without the framework's
fixed import cost.

CUDA: ``torch.cuda.max_memory_allocated`` over the timed steps, minus what was allocated
before the model was built (the same split, for ATen's caching allocator).
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``); None where there is no procfs."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def current_rss() -> int:
    """Resident set size of this process now, in bytes."""
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    return peak_rss()  # no procfs: the best available stand-in


def peak_rss() -> int:
    """High-water mark of the resident set since start or the last :func:`reset_peak_rss`, in bytes."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # macOS reports bytes, Linux KiB


def reset_peak_rss() -> bool:
    """Reset the high-water mark to the current resident set (Linux >= 4.0); False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@dataclass
class RssProbe:
    """``baseline`` -> (build, warm up) -> :meth:`start_peak` -> (timed steps) -> :meth:`delta`."""

    baseline: int
    peak_was_reset: bool = False

    @classmethod
    def start(cls) -> RssProbe:
        return cls(baseline=current_rss())

    def start_peak(self) -> None:
        self.peak_was_reset = reset_peak_rss()

    def delta(self) -> int:
        """Peak resident bytes over the timed steps above the baseline."""
        return peak_rss() - self.baseline

    @property
    def method(self) -> str:
        if self.peak_was_reset:
            return "peak RSS (VmHWM, reset after warm-up) minus RSS after framework import"
        return "peak RSS since process start (high-water mark could not be reset) minus RSS after framework import"


@dataclass
class CudaMemoryProbe:
    """The same three calls on a CUDA device: allocator bytes (``torch.cuda.max_memory_allocated``)."""

    baseline: int

    @classmethod
    def start(cls) -> CudaMemoryProbe:
        import torch

        torch.cuda.synchronize()
        return cls(baseline=torch.cuda.memory_allocated())

    def start_peak(self) -> None:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    def delta(self) -> int:
        import torch

        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - self.baseline

    @property
    def method(self) -> str:
        return "torch.cuda.max_memory_allocated over the timed steps minus allocated before the model was built"
