"""One ONNX Runtime case: the model exported to ONNX (``torch_impl.export_onnx``), timed as ``session.run``.

The model is the case's preset, or the Keras file read by lstm2d, exported in the case's dtype with frames
channels first (the layout the torch engines' batch is converted to before timing, so neither engine's timed step
moves channels), at the case's batch-independent shapes: a dynamic batch axis, every time axis at the case's
length. ONNX Runtime runs it with its defaults (all graph optimizations, one intra-op thread per physical core) on
the CPU, or on the CUDA execution provider for a ``cuda`` case (inputs copied from host memory on every run).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cases import ENGINES, Case
from benchmarks.data import make_batch
from benchmarks.measure import measure
from lstm2d.spec import ModelSpec

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def build_step(case: Case, spec: ModelSpec, folder: Path) -> tuple[Callable[[], Any], dict[str, Any]]:
    """The step to time (one ``session.run`` on the case's batch) and what runs it: providers, threads, the ONNX
    graph's operators. The ONNX file is written to ``folder``."""
    import onnx
    import onnxruntime

    import torch_impl
    from torch_impl.export import open_time_inputs

    model = torch_impl.from_keras(case.model_file) if case.model_file else torch_impl.build_model(spec)
    timesteps = case.timesteps if open_time_inputs(model.spec) else None
    artifact = torch_impl.export_onnx(
        model, folder / "model.onnx", layout="channels_first", dtype=case.dtype, timesteps=timesteps
    )
    session = onnxruntime.InferenceSession(str(artifact.path), providers=[PROVIDERS[case.device]])
    inputs, _ = make_batch(spec, case.batch)
    feed = {}
    for tensor in artifact.inputs:
        array = inputs[tensor.name]
        if tensor.spatial and spec.data_format == "channels_last":
            array = np.moveaxis(array, -1, -3)
        feed[tensor.name] = np.ascontiguousarray(array, dtype=np.bool_ if tensor.dtype == "bool" else tensor.dtype)
    operators = Counter(node.op_type for node in onnx.load(str(artifact.path)).graph.node)
    runtime = {
        "onnxruntime": onnxruntime.__version__,
        "providers": session.get_providers(),
        "intra_op_threads": session.get_session_options().intra_op_num_threads or "default (one per physical core)",
        "onnx_operators": dict(sorted(operators.items())),
    }
    return (lambda: session.run(None, feed)), runtime


def run(case: Case, spec: ModelSpec) -> dict[str, Any]:
    """Measure ``case`` (its model ``spec``, every time axis fixed) in this process."""
    import onnxruntime

    if PROVIDERS[case.device] not in onnxruntime.get_available_providers():
        return {"status": "skipped", "reason": f"ONNX Runtime has no {PROVIDERS[case.device]} here (onnxruntime-gpu for CUDA)"}
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:

        def build() -> Callable[[], Any]:
            step, found["runtime"] = build_step(case, spec, Path(folder))
            return step

        result, _ = measure(case, build, synchronize=lambda: None)
    return result | {
        "framework_version": f"onnxruntime {onnxruntime.__version__}",
        "compiler": ENGINES[case.engine].compiler,
        "runtime": found["runtime"],
    }
