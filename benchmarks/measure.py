"""The measurement every engine shares: build, warm up (compilation included, timed apart), time, peak memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.cases import Case
from benchmarks.memory import CudaMemoryProbe, RssProbe
from benchmarks.timing import time_step

Step = Callable[[], Any]


def measure(case: Case, build: Callable[[], Step], *, synchronize: Callable[[], None]) -> tuple[dict[str, Any], Step]:
    """Build the step, run ``case.warmup`` untimed steps, then time it and take its peak memory.

    The memory baseline is taken before ``build``: the figure covers the model, its optimizer
    state, the batch and the step's working set (see :mod:`benchmarks.memory`). Returns the
    result fields and the step (for the caller's own checks, e.g. which kernels it runs).
    """
    probe = CudaMemoryProbe.start() if case.device == "cuda" else RssProbe.start()
    started = time.perf_counter()
    step = build()
    build_s = time.perf_counter() - started
    warmup_s = []
    for _ in range(case.warmup):
        started = time.perf_counter()
        step()
        synchronize()
        warmup_s.append(round(time.perf_counter() - started, 4))
    probe.start_peak()
    timing = time_step(step, min_run_time=case.min_run_time, min_blocks=case.min_blocks, device=case.device)
    peak = probe.delta()
    result = {
        "status": "ok",
        "samples_per_s": timing.throughput(case.batch),
        "step_s": {"median": timing.median, "q25": timing.q25, "q75": timing.q75},
        "blocks": timing.blocks,
        "steps_per_block": timing.steps_per_block,
        "build_s": round(build_s, 3),
        "warmup_s": warmup_s,
        "memory": {"peak_bytes": peak, "per_sample_bytes": peak / case.batch, "method": probe.method},
    }
    return result, step
