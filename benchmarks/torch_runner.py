"""One torch case: the model through ``torch_impl.runtime``, measured, with the fused kernels it ran."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

import torch_impl
from benchmarks.cases import ENGINES, Case
from benchmarks.data import make_batch
from benchmarks.kernels import kernels_used
from benchmarks.measure import measure
from benchmarks.peak import torch_runtime
from torch_impl.runtime import InferenceRunner, RuntimeOptions, TrainingStep


def runtime_options(case: Case) -> RuntimeOptions:
    """The engine's runtime: compiled or not, CUDA graphs or not, the case's dtype; TF32 off (fp32 means fp32)."""
    return RuntimeOptions(
        dtype=case.dtype,
        compile=case.engine == "torch-compile",
        cuda_graphs=case.engine == "torch-cudagraphs",
    )


def build_step(case: Case, device: torch.device, *, layer_by_layer: bool = False) -> Callable[[], Any]:
    """The step to time: a closure over the model and the batch, both already on ``device``.

    ``layer_by_layer`` runs the layers' modules one by one, without the fused conv + max-pool op
    (for profiles of the straightforward model).
    """
    spec = case.spec()
    model = torch_impl.build_model(spec).to(device)
    if layer_by_layer:
        model.fuse_conv_pool(False)
    x, y = (torch.from_numpy(a).to(device) for a in make_batch(spec, case.batch, case.timesteps))
    if model.spatial_inputs[0]:
        x = x.permute(0, 1, 4, 2, 3).contiguous()  # Keras layout -> the torch model's (B, T, C, H, W)
    if model.spatial_outputs[0]:
        y = y.movedim(-1, -3).contiguous()  # frame targets likewise: channels before height and width
    options = runtime_options(case)
    if case.mode == "infer":
        runner = InferenceRunner(model, options)
        return lambda: runner(x)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    step = TrainingStep(model, optimizer, F.mse_loss, options)
    return lambda: step(x, y)


def run(case: Case) -> dict[str, Any]:
    """Measure ``case`` in this process (which should be fresh: see :mod:`benchmarks.worker`)."""
    device = torch.device(case.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        return {"status": "skipped", "reason": "no CUDA device visible to torch"}
    if case.engine == "torch-cudagraphs" and device.type != "cuda":
        return {"status": "skipped", "reason": "CUDA graphs need a CUDA device"}
    torch.empty(1, device=device).sum().item()  # initialise the device before the memory baseline
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    result, step = measure(case, lambda: build_step(case, device), synchronize=synchronize)
    options = runtime_options(case)
    return result | {
        "framework_version": torch.__version__,
        "compiler": ENGINES[case.engine].compiler,
        "kernels": kernels_used(step, device),
        "tf32": options.tf32,
        "runtime": torch_runtime(device),
    }
