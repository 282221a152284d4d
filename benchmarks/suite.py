"""A whole run: the matmul peak, every case in a process of its own, the peak again; JSON, table and plot.

This process only orchestrates (it imports no framework unless asked to resolve ``--device
auto``); each measurement runs in ``python -m benchmarks.worker``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import environment, report
from benchmarks.cases import ENGINES, QUICK, Case, Sweep
from benchmarks.flops import step_flops
from benchmarks.worker import RESULT_PREFIX
from lstm2d.spec import ModelSpec

SCHEMA = "lstm2d-bench/1"
CASE_TIMEOUT_S = 1800  # an XLA compile of a 100-step Keras model can take minutes on two cores


@dataclasses.dataclass(frozen=True)
class PeakSettings:
    """Matrix sizes and timing of the matmul-peak measurement."""

    sizes: tuple[int, ...] = (1024, 2048, 3072)
    min_run_time: float = 1.0
    again_after: bool = True  # measure again after the cases (drift, other load)


QUICK_PEAK = PeakSettings(sizes=(1024, 2048), min_run_time=0.3, again_after=False)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` where torch sees a GPU, else ``cpu``; ``cpu`` and ``cuda`` pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _worker_env(case: Case | None, device: str) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU case must not let any backend grab a GPU
        env["JAX_PLATFORMS"] = "cpu"
    backend = ENGINES[case.engine].backend if case is not None else None
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return env


def read_model_file(path: Path) -> ModelSpec:
    """The spec of a Keras model file, read by lstm2d (vetted: nothing in it runs), weights and all; a
    ``torch_impl.ModelFileError`` names anything unreadable, unsafe or unsupported. Keras opens the file only after this."""
    from torch_impl.files import read_keras_file

    return read_keras_file(path).spec


def run_worker(kind: str, payload: dict[str, Any], env: dict[str, str], timeout: float = CASE_TIMEOUT_S) -> dict[str, Any]:
    """One ``python -m benchmarks.worker`` process, given ``payload`` as JSON on its stdin (a model file's spec can be
    larger than one command-line argument may be); its ``RESULT`` line, or an error saying why there was none."""
    command = [sys.executable, "-m", "benchmarks.worker", kind]
    try:
        done = subprocess.run(command, input=json.dumps(payload), capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        if done.returncode < 0:
            killed = "SIGKILL: out of memory?" if done.returncode == -9 else f"signal {-done.returncode}"
            return {"status": "error", "reason": f"worker killed ({killed})"}
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "error", "reason": f"worker exited {done.returncode} without a result: {tail}"}
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def _flops(spec: ModelSpec, case: Case, result: dict[str, Any]) -> dict[str, Any]:
    flops = step_flops(spec)
    per_sample = flops.training if case.mode == "train" else flops.inference
    fields: dict[str, Any] = {"per_sample": per_sample}
    if result.get("status") == "ok":
        fields["achieved_gflops"] = result["samples_per_s"]["median"] * per_sample / 1e9
    return fields


def _peak(device: str, settings: PeakSettings) -> dict[str, Any]:
    payload = {"device": device, "sizes": list(settings.sizes), "min_run_time": settings.min_run_time}
    return run_worker("peak", payload, _worker_env(None, device))


EXTRAS = {"keras": "keras", "onnxruntime": "export"}  # the extra that installs a framework's engines


def _installed(case: Case) -> str | None:
    """Why a Keras or ONNX Runtime case cannot run here (its packages are missing), or None."""
    import importlib.util

    engine = ENGINES[case.engine]
    packages = {"keras": ("keras", engine.backend), "onnxruntime": ("onnxruntime", "onnx", "onnxscript")}.get(engine.framework)
    if packages is None:
        return None
    missing = [name for name in packages if name is not None and importlib.util.find_spec(name) is None]
    return f"not installed: {', '.join(missing)} (pip install 'lstm2d[{EXTRAS[engine.framework]}]')" if missing else None


def run(
    sweep: Sweep,
    *,
    model: ModelSpec | None = None,
    peak: PeakSettings = PeakSettings(),
    command: str = "",
    progress: Callable[[str], None] = print,
    checkpoint: Callable[[dict[str, Any]], None] = lambda doc: None,
) -> dict[str, Any]:
    """Measure every case of ``sweep`` (its ``device`` already resolved) and return the results document. ``model``:
    the spec of the sweep's model file, as :func:`read_model_file` read it (each case's worker gets it).
    ``checkpoint`` gets the document so far after every case (``--out`` writes it: a run cut short keeps what it
    measured)."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "machine": environment.machine(),
        "versions": environment.versions(),
        "thread_environment": environment.thread_environment(),
        "load_average": {"before": environment.load_average()},
        "sweep": dataclasses.asdict(sweep),
        "peak": {},
        "results": [],
    }
    progress(f"matmul peak on {sweep.device} ...")
    doc["peak"]["before"] = _peak(sweep.device, peak)
    cases = sweep.cases(model)
    file_spec = {"spec": model.to_dict()} if model is not None else {}
    for number, case in enumerate(cases, 1):
        reason = _installed(case)
        if reason:
            result: dict[str, Any] = {"status": "skipped", "reason": reason}
        else:
            result = run_worker("case", case.to_dict() | file_spec, _worker_env(case, sweep.device))
        result["flops"] = _flops(case.spec(model), case, result)
        doc["results"].append({"case": case.to_dict(), **result})
        progress(f"[{number}/{len(cases)}] {case.label}: {report.summary(result)}")
        checkpoint(doc)
    if peak.again_after:
        progress(f"matmul peak on {sweep.device} again ...")
        doc["peak"]["after"] = _peak(sweep.device, peak)
    doc["load_average"]["after"] = environment.load_average()
    return doc


def write_json(doc: dict[str, Any], out: Path) -> Path:
    """``results.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def write(doc: dict[str, Any], out: Path) -> list[Path]:
    """``results.json``, ``results.md`` and ``throughput.png`` in ``out``."""
    paths = [write_json(doc, out), out / "results.md", out / "throughput.png"]
    paths[1].write_text(report.markdown(doc))
    report.plot(doc, paths[2])
    return paths


def run_quick(progress: Callable[[str], None] = lambda line: None) -> str:
    """``lstm2d bench --quick`` for callers such as the demo (``benchmarks.run_quick``): returns the table as text."""
    sweep = dataclasses.replace(QUICK, device=resolve_device("auto"))
    doc = run(sweep, peak=QUICK_PEAK, command="lstm2d bench --quick", progress=progress)
    return report.markdown(doc)
