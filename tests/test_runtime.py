"""torch_impl.runtime: the plain model's numbers, reduced precision within its tolerance, CUDA paths (skip without a GPU)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

import torch_impl
from lstm2d.presets import get_preset
from lstm2d.spec import ModelSpec
from lstm2d.tolerances import BF16_FORWARD_ATOL
from tests.graph_models import TWO_HEADS
from torch_impl.runtime import InferenceRunner, RuntimeOptions, TrainingStep

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _model_and_batch(preset: str = "seed-cnn", timesteps: int = 6, batch: int = 3, device: str = "cpu"):
    spec = get_preset(preset).with_input(timesteps=timesteps)
    torch.manual_seed(0)
    model = torch_impl.build_model(spec).to(device)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, timesteps, spec.input.channels, spec.input.height, spec.input.width, generator=generator)
    y = torch.ones(batch, 1)  # far from a fresh model's outputs (~0.1): the loss falls from the first steps
    return model, x.to(device), y.to(device)


def _eager_steps(model, x, y, steps: int, **adam):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **adam)
    for _ in range(steps):
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
    return model


def test_inference_is_the_model_without_autograd():
    model, x, _ = _model_and_batch()
    out = InferenceRunner(model)(x)
    assert not model.training and not out.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(out, model(x), rtol=0, atol=0)


@pytest.mark.parametrize("preset", ["seed-flat", "seed-cnn"])
def test_bf16_inference_stays_within_the_stated_tolerance(preset):
    model, x, _ = _model_and_batch(preset, timesteps=100, batch=4)
    with torch.no_grad():
        expected = model.eval()(x)
    out = InferenceRunner(model, RuntimeOptions(dtype="bf16"))(x)
    assert out.dtype == torch.bfloat16
    assert (out.float() - expected).abs().max().item() <= BF16_FORWARD_ATOL


def test_training_step_is_the_textbook_step():
    model, x, y = _model_and_batch()
    reference = _eager_steps(copy.deepcopy(model), x, y, steps=3)
    step = TrainingStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), F.mse_loss)
    losses = [step(x, y).item() for _ in range(3)]
    assert losses[-1] < losses[0]
    for (name, got), want in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)


def _two_heads(device: str = "cpu", *, masked: bool = True):
    """TWO_HEADS (three inputs, a mask among them; two outputs; without the mask if not ``masked``) with a batch of 3
    sequences of 4 steps, and targets."""
    spec = TWO_HEADS.with_timesteps(4)
    if not masked:
        nodes = [replace(node, mask=None) for node in spec.nodes]
        spec = ModelSpec(inputs=spec.inputs[:2], nodes=nodes, outputs=spec.outputs, name=spec.name)
    torch.manual_seed(0)
    model = torch_impl.build_model(spec).to(device)
    generator = torch.Generator().manual_seed(1)
    frames, side = torch.randn(3, 4, 2, 6, 5, generator=generator), torch.randn(3, 4, 3, generator=generator)
    mask = torch.arange(4)[None, :] < torch.tensor([[4], [2], [1]])  # right padding
    x = tuple(t.to(device) for t in (frames, side, mask)[: len(spec.inputs)])
    y = (torch.ones(3, 1, device=device), torch.ones(3, 4, 3, device=device))
    return model, x, y


def _summed_mse(outputs, targets):
    return sum(F.mse_loss(out, target) for out, target in zip(outputs, targets, strict=True))


def _eager_two_heads_steps(model, x, y, steps: int):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        _summed_mse(model(*x), y).backward()
        optimizer.step()
    return model


def test_several_inputs_and_outputs_run_positionally():
    """Inputs as a tuple (positional), outputs and targets as tuples: the same numbers as the plain model."""
    model, x, y = _two_heads()
    with torch.no_grad():
        expected = model.eval()(*x)
    outputs = InferenceRunner(model)(*x)
    assert all(torch.equal(out, want) for out, want in zip(outputs, expected, strict=True))
    reference = _eager_two_heads_steps(copy.deepcopy(model), x, y, steps=2)
    step = TrainingStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), _summed_mse)
    for _ in range(2):
        step(x, y)
    for (name, got), want in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)


def test_bf16_training_keeps_fp32_weights_and_learns():
    model, x, y = _model_and_batch()
    step = TrainingStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), F.mse_loss, RuntimeOptions(dtype="bf16"))
    losses = [step(x, y).item() for _ in range(5)]
    assert losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(dtype="fp8"), "dtype: expected one of"),
        (dict(cuda_graphs=True, dtype="fp16"), "cuda_graphs with fp16"),
    ],
)
def test_options_refuse_what_they_cannot_do(options, message):
    with pytest.raises(ValueError, match=message):
        RuntimeOptions(**options)


def test_cuda_graphs_need_a_cuda_model():
    model, _, _ = _model_and_batch()
    with pytest.raises(ValueError, match="cuda_graphs needs a model on a CUDA device"):
        InferenceRunner(model, RuntimeOptions(cuda_graphs=True))
    with pytest.raises(ValueError, match="cuda_graphs needs a model on a CUDA device"):
        TrainingStep(model, torch.optim.Adam(model.parameters()), F.mse_loss, RuntimeOptions(cuda_graphs=True))


@pytest.mark.slow
@pytest.mark.parametrize(  # seed-flat: an LSTM fed straight from the input (10-25 s more: under -m deep)
    "preset", ["seed-cnn", pytest.param("seed-flat", marks=pytest.mark.deep)]
)
def test_compiled_model_matches_eager(preset):
    model, x, y = _model_and_batch(preset)
    with torch.no_grad():
        expected = model.eval()(x)
    torch.testing.assert_close(InferenceRunner(model, RuntimeOptions(compile=True))(x), expected, rtol=0, atol=1e-5)
    reference = _eager_steps(copy.deepcopy(model).train(), x, y, steps=2)
    step = TrainingStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), F.mse_loss, RuntimeOptions(compile=True))
    step(x, y)
    step(x, y)
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)  # the compiled LSTM sums in another order


@cuda
def test_cuda_inference_uses_cudnn_and_matches_the_cpu():
    from benchmarks.kernels import kernels_used

    model, x, _ = _model_and_batch()
    with torch.no_grad():
        expected = model.eval()(x)
    runner = InferenceRunner(model.cuda())
    torch.testing.assert_close(runner(x.cuda()).cpu(), expected, rtol=0, atol=1e-5)
    assert any("aten::_cudnn_rnn" in kernel for kernel in kernels_used(lambda: runner(x.cuda()), torch.device("cuda")))


@cuda
def test_cuda_graph_inference_replays_with_new_data_and_refuses_new_shapes():
    model, x, _ = _model_and_batch(device="cuda")
    eager = InferenceRunner(model)
    graphed = InferenceRunner(model, RuntimeOptions(cuda_graphs=True))
    for scale in (1.0, -2.0):
        torch.testing.assert_close(graphed(x * scale).clone(), eager(x * scale), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="captured for inputs"):
        graphed(x[:1])


@cuda
def test_cuda_graph_training_equals_eager_training():
    model, x, y = _model_and_batch(device="cuda")
    reference = _eager_steps(copy.deepcopy(model), x, y, steps=5)
    step = TrainingStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), F.mse_loss, RuntimeOptions(cuda_graphs=True))
    losses = [step(x, y).item() for _ in range(5)]  # warm-up and capture change no weights: 5 calls, 5 updates
    assert losses[-1] < losses[0]
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@cuda
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_cuda_reduced_precision_training_learns(dtype):
    model, x, y = _model_and_batch(device="cuda")
    step = TrainingStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), F.mse_loss, RuntimeOptions(dtype=dtype))
    losses = [step(x, y).item() for _ in range(5)]
    assert losses[-1] < losses[0]


def test_bf16_recurrent_kernels_run_where_onednn_has_no_bf16_kernels():
    """torch hands bf16 RNNs to oneDNN even where oneDNN has no bf16 kernels (no AVX-512, or ONEDNN_MAX_CPU_ISA below
    it) and the call fails; lstm2d runs the fused kernel in fp32 there. Checked in a process limited to AVX2, and in
    this one with the check answering no."""
    code = """
import torch, torch_impl
from lstm2d.presets import get_preset
from torch_impl.layers.recurrent import cpu_runs_bf16_rnn
from torch_impl.runtime import InferenceRunner, RuntimeOptions
assert not cpu_runs_bf16_rnn()
model = torch_impl.build_model(get_preset("seed-flat").with_input(timesteps=5))
print(InferenceRunner(model, RuntimeOptions(dtype="bf16"))(torch.randn(2, 5, 1, 10, 10)).dtype)
"""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "torch.bfloat16", done.stderr


def test_bf16_recurrent_fallback_matches_the_fp32_model(monkeypatch):
    from torch_impl.layers import recurrent

    model, x, _ = _model_and_batch("seed-flat", timesteps=20, batch=4)
    with torch.no_grad():
        expected = model.eval()(x)
    monkeypatch.setattr(recurrent, "cpu_runs_bf16_rnn", lambda: False)
    out = InferenceRunner(model, RuntimeOptions(dtype="bf16"))(x)
    assert out.dtype == torch.bfloat16
    assert (out.float() - expected).abs().max().item() <= BF16_FORWARD_ATOL


@cuda
def test_cuda_graphs_of_several_inputs_and_outputs_equal_eager():
    # Without the mask: a masked recurrent layer reads its mask's lengths on the host, which a CUDA graph cannot capture.
    model, x, y = _two_heads(device="cuda", masked=False)
    reference = _eager_two_heads_steps(copy.deepcopy(model), x, y, steps=5)
    graphed = InferenceRunner(copy.deepcopy(model), RuntimeOptions(cuda_graphs=True))
    with torch.no_grad():
        expected = copy.deepcopy(model).eval()(*x)
    for out, want in zip(graphed(*x), expected, strict=True):
        torch.testing.assert_close(out.clone(), want, rtol=0, atol=1e-5)
    step = TrainingStep(model, torch.optim.Adam(model.parameters(), lr=1e-3), _summed_mse, RuntimeOptions(cuda_graphs=True))
    for _ in range(5):
        step(x, y)
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
