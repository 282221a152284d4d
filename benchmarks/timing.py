"""Timing one step with ``torch.utils.benchmark``: warm-up excluded, repeated blocks, median and spread."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.benchmark import Timer


@dataclass(frozen=True)
class Timing:
    """Seconds per step over ``blocks`` timed blocks of ``steps_per_block`` steps each.

    ``q25``/``q75`` are the quartiles of the per-block mean step time (the spread).
    """

    median: float
    q25: float
    q75: float
    blocks: int
    steps_per_block: int

    def throughput(self, batch: int) -> dict[str, float]:
        """Samples per second: the median, and the range the middle half of the blocks fell in."""
        return {"median": batch / self.median, "low": batch / self.q75, "high": batch / self.q25}


def time_step(step: Callable[[], object], *, min_run_time: float, min_blocks: int, device: str = "cpu") -> Timing:
    """Time ``step()`` (already warmed up) until ``min_run_time`` seconds and ``min_blocks`` blocks are reached.

    ``torch.utils.benchmark`` synchronizes CUDA around every block. Its ``Timer`` defaults to one
    thread; it runs with the thread count this process was set up with, so torch gets every core
    it would have outside the harness. A step that returns device arrays of another framework
    must wait for them itself (the Keras runners return host values).
    """
    timer = Timer(
        stmt="step()",
        globals={"step": step},
        num_threads=torch.get_num_threads(),
        label="step",
        description=device,
    )
    runs = [timer.blocked_autorange(min_run_time=min_run_time)]
    steps_per_block = runs[0].number_per_run
    while sum(len(run.times) for run in runs) < min_blocks:
        runs.append(timer.timeit(steps_per_block))
    times = sorted(t for run in runs for t in run.times)  # mean seconds per step, one per block
    q25, _, q75 = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else (times[0],) * 3
    return Timing(
        median=statistics.median(times),
        q25=q25,
        q75=q75,
        blocks=len(times),
        steps_per_block=steps_per_block,
    )
