"""One torch case: the model through ``torch_impl.runtime``, measured, with the fused kernels it ran."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

import torch_impl
from benchmarks.cases import ENGINES, Case
from benchmarks.data import make_batch
from benchmarks.kernels import kernels_used
from benchmarks.measure import measure
from benchmarks.peak import torch_runtime
from lstm2d.spec import ModelSpec
from torch_impl.runtime import InferenceRunner, RuntimeOptions, Tensors, TrainingStep


def runtime_options(case: Case) -> RuntimeOptions:
    """The engine's runtime: compiled or not, CUDA graphs or not, the case's dtype; TF32 off (fp32 means fp32)."""
    return RuntimeOptions(
        dtype=case.dtype,
        compile=case.engine == "torch-compile",
        cuda_graphs=case.engine == "torch-cudagraphs",
    )


def mse(outputs: Tensors, targets: Tensors) -> torch.Tensor:
    """Keras' ``loss="mse"``: the mean squared error of the output, or of each output, summed."""
    if isinstance(outputs, torch.Tensor):
        assert isinstance(targets, torch.Tensor)
        return F.mse_loss(outputs, targets)
    return torch.stack([F.mse_loss(out, target) for out, target in zip(outputs, targets, strict=True)]).sum()


def _to_torch(
    arrays: Sequence[Any], spatial: Sequence[bool], keras_layout: str, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """Arrays in the Keras layout as the torch model (channels-first input layout) reads or writes them: frames and
    grids of spatial layers with the channel axis before height and width, everything else as it is."""
    tensors = (torch.from_numpy(array).to(device) for array in arrays)
    move = keras_layout == "channels_last"
    return tuple(t.movedim(-1, -3).contiguous() if s and move else t for t, s in zip(tensors, spatial, strict=True))


def build_step(case: Case, spec: ModelSpec, device: torch.device, *, layer_by_layer: bool = False) -> Callable[[], Any]:
    """The step to time: a closure over the model and the batch, both already on ``device``.

    ``spec`` is the case's model (:meth:`Case.spec`); a model file's weights come from the file, read by lstm2d.
    ``layer_by_layer`` runs the layers' modules one by one, without the fused conv + max-pool op
    (for profiles of the straightforward model).
    """
    model = (torch_impl.from_keras(case.model_file) if case.model_file else torch_impl.build_model(spec)).to(device)
    if layer_by_layer:
        model.fuse_conv_pool(False)
    inputs, targets = make_batch(spec, case.batch)
    x = _to_torch([inputs[name] for name in spec.input_names], model.spatial_inputs, spec.data_format, device)
    y = _to_torch(targets, model.spatial_outputs, spec.data_format, device)
    options = runtime_options(case)
    if case.mode == "infer":
        runner = InferenceRunner(model, options)
        return lambda: runner(*x)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    step = TrainingStep(model, optimizer, mse, options)
    return lambda: step(x if len(x) > 1 else x[0], y if len(y) > 1 else y[0])


def run(case: Case, spec: ModelSpec) -> dict[str, Any]:
    """Measure ``case`` (its model ``spec``) in this process (which should be fresh: see :mod:`benchmarks.worker`)."""
    device = torch.device(case.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        return {"status": "skipped", "reason": "no CUDA device visible to torch"}
    if case.engine == "torch-cudagraphs" and device.type != "cuda":
        return {"status": "skipped", "reason": "CUDA graphs need a CUDA device"}
    torch.empty(1, device=device).sum().item()  # initialise the device before the memory baseline
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    result, step = measure(case, lambda: build_step(case, spec, device), synchronize=synchronize)
    options = runtime_options(case)
    return result | {
        "framework_version": torch.__version__,
        "compiler": ENGINES[case.engine].compiler,
        "kernels": kernels_used(step, device),
        "tf32": options.tf32,
        "runtime": torch_runtime(device),
    }
