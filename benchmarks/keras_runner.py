"""One Keras case, in a process whose ``KERAS_BACKEND`` the worker set before anything imported Keras.

The step is what a Keras user times: ``model.train_on_batch`` / ``model.predict_on_batch`` on a
batch already converted to the backend's tensors, with ``model.compile(jit_compile=...)`` as the
engine says (XLA on TensorFlow and JAX, ``torch.compile`` or eager on the torch backend). Both
calls return host values, so every timed step has finished (JAX dispatches asynchronously).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from benchmarks.cases import ENGINES, Case
from benchmarks.data import make_batch
from benchmarks.measure import measure
from lstm2d.spec import ModelSpec

POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def _backend_gpus(backend: str) -> int:
    """How many GPUs the backend itself sees."""
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return sum(device.platform == "gpu" for device in jax.devices())
    import torch

    return torch.cuda.device_count()


def _runtime(backend: str) -> dict[str, Any]:
    """Threads and kernel libraries the backend runs with."""
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.util import _pywrap_util_port

        return {
            "tensorflow": tf.__version__,
            "onednn": bool(_pywrap_util_port.IsMklEnabled()),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (default: on for x86 CPUs)"),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default (all cores)",
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "default",
        }
    if backend == "jax":
        import jax

        return {"jax": jax.__version__, "devices": [str(device) for device in jax.devices()]}
    import torch

    return {"torch": torch.__version__, "threads": torch.get_num_threads()}


def build_step(case: Case, spec: ModelSpec) -> Callable[[], Any]:
    """The step to time on the Keras model of ``spec``, or, for a model file, the file as Keras opens it (lstm2d's
    reader vetted it in the suite before any case ran); inputs in the model's input order, one loss per output."""
    import keras

    import keras_ref

    engine = ENGINES[case.engine]
    keras.mixed_precision.set_global_policy(POLICIES[case.dtype])
    model = keras_ref.load_vetted_model(case.model_file) if case.model_file else keras_ref.build_model(spec)
    losses = "mse" if len(spec.outputs) == 1 else ["mse"] * len(spec.outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=losses, jit_compile=engine.jit_compile)
    inputs, targets = make_batch(spec, case.batch)
    xs = [keras.ops.convert_to_tensor(inputs[name]) for name in spec.input_names]
    ys = [keras.ops.convert_to_tensor(target) for target in targets]
    x, y = (xs if len(xs) > 1 else xs[0]), (ys if len(ys) > 1 else ys[0])
    if case.mode == "infer":
        return lambda: model.predict_on_batch(x)
    return lambda: model.train_on_batch(x, y)


def run(case: Case, spec: ModelSpec) -> dict[str, Any]:
    import keras

    engine = ENGINES[case.engine]
    backend = keras.backend.backend()
    if backend != engine.backend:
        raise RuntimeError(f"{case.engine} needs Keras on {engine.backend}, this process runs {backend}")
    if case.device == "cuda" and not _backend_gpus(backend):
        return {"status": "skipped", "reason": f"Keras on {backend} sees no GPU here"}
    float(keras.ops.sum(keras.ops.ones((2,))))  # initialise the backend before the memory baseline
    result, step = measure(case, lambda: build_step(case, spec), synchronize=lambda: None)
    extra: dict[str, Any] = {
        "framework_version": f"keras {keras.__version__}",
        "compiler": engine.compiler,
        "runtime": _runtime(backend),
    }
    if backend == "torch":
        import torch

        from benchmarks.kernels import kernels_used

        extra["kernels"] = kernels_used(step, torch.device(case.device))
    return result | extra
