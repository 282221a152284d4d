"""The process one measurement runs in: ``python -m benchmarks.worker case|peak``, the request as JSON on stdin.

Prints one line ``RESULT <json>`` at the end. A fresh process per case gives every engine the
same memory baseline, lets each Keras backend be chosen before Keras is imported, and keeps one
engine's threads, caches and compiled code from affecting the next.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

from benchmarks.cases import ENGINES, Case
from lstm2d.spec import ModelSpec

RESULT_PREFIX = "RESULT "


def _run_case(data: dict[str, Any]) -> dict[str, Any]:
    """A :class:`Case` as a dict; a model file's case brings the file's spec (as lstm2d read it) under ``spec``."""
    case = Case.from_dict(data)
    spec = case.spec(ModelSpec.from_dict(data["spec"]) if "spec" in data else None)
    engine = ENGINES[case.engine]
    if engine.framework == "keras":
        assert os.environ.get("KERAS_BACKEND") == engine.backend, "the suite sets KERAS_BACKEND for Keras cases"
        from benchmarks import keras_runner

        return keras_runner.run(case, spec)
    if engine.framework == "onnxruntime":
        from benchmarks import ort_runner

        return ort_runner.run(case, spec)
    from benchmarks import torch_runner

    return torch_runner.run(case, spec)


def _run_peak(data: dict[str, Any]) -> dict[str, Any]:
    import torch

    from benchmarks.peak import measure_peaks, torch_runtime

    device = torch.device(data["device"])
    peaks = measure_peaks(device, sizes=tuple(data["sizes"]), min_run_time=data["min_run_time"])
    return {"status": "ok", "peaks": peaks, "torch": torch_runtime(device)}


def main(argv: list[str]) -> int:
    (kind,) = argv
    try:
        result = {"case": _run_case, "peak": _run_peak}[kind](json.loads(sys.stdin.read()))
    except Exception as exc:  # reported as the case's result; the suite goes on with the next case
        traceback.print_exc()
        result = {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
