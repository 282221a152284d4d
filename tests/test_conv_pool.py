"""The fused Conv2D + max-pool op against the layer-by-layer computation, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import torch_impl
from lstm2d.presets import get_preset
from lstm2d.spec import LSTM, Conv2D, ConvLSTM2D, Dense, Flatten, Grid, InputSpec, ModelSpec, Pool2D
from lstm2d.tolerances import BF16_FORWARD_ATOL
from torch_impl.layers import conv_pool
from torch_impl.layers.conv_pool import conv_max_pool, fusable

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda t: t}

# (frames, channels, height, width, kernel, stride, pool, activation)
CASES = [
    (300, 1, 10, 10, (3, 3), (1, 1), (2, 2), "relu"),  # seed-cnn, several chunks
    (7, 3, 11, 9, (3, 3), (2, 2), (2, 2), "tanh"),  # stride 2, odd sizes: remainder rows dropped
    (5, 2, 12, 13, (2, 3), (1, 2), (3, 2), "sigmoid"),  # rectangular everything
    (4, 1, 8, 8, (3, 3), (1, 1), (3, 3), "linear"),
    (3, 4, 6, 6, (1, 1), (1, 1), (1, 1), "relu"),  # 1x1 pool: a plain conv
]


def reference(x, weight, bias, stride, pool, activation):
    """Layer by layer, with amax over each window (ties share the gradient, as the fused op's backward does)."""
    z = ACTIVATIONS[activation](F.conv2d(x, weight, bias, stride=stride))
    n, f, h, w = z.shape
    ph, pw = pool
    z = z[:, :, : h // ph * ph, : w // pw * pw].reshape(n, f, h // ph, ph, w // pw, pw)
    return z.amax(dim=(3, 5))


def _case_tensors(frames, channels, height, width, kernel, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(frames, channels, height, width, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(6, channels, *kernel, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    return x, weight, bias


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few frames, so every case crosses chunk boundaries."""
    monkeypatch.setattr(conv_pool, "CHUNK_BYTES", 4096)


@pytest.mark.parametrize("case", CASES, ids=lambda case: "-".join(map(str, case)))
def test_forward_and_gradients_match_layer_by_layer(case, small_chunks):
    frames, channels, height, width, kernel, stride, pool, activation = case
    x, weight, bias = _case_tensors(frames, channels, height, width, kernel)
    expected = reference(x, weight, bias, stride, pool, activation)
    out = conv_max_pool(x, weight, bias, list(stride), list(pool), activation)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    upstream = torch.randn_like(expected)
    for got, want in zip(
        torch.autograd.grad(out, (x, weight, bias), upstream),
        torch.autograd.grad(expected, (x, weight, bias), upstream),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_gradcheck():
    x, weight, bias = _case_tensors(3, 2, 7, 6, (2, 2))
    assert torch.autograd.gradcheck(lambda *t: conv_max_pool(*t, [1, 1], [2, 2], "tanh"), (x, weight, bias))


def test_tied_windows_share_the_gradient(small_chunks):
    """Constant frames tie every window; the gradient is split, not counted once per winner."""
    x = torch.ones(20, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    _, weight, bias = _case_tensors(1, 1, 6, 6, (3, 3))
    out = conv_max_pool(x, weight, bias, [1, 1], [2, 2], "linear")
    expected = reference(x, weight, bias, (1, 1), (2, 2), "linear")
    for got, want in zip(
        torch.autograd.grad(out.sum(), (x, weight)), torch.autograd.grad(expected.sum(), (x, weight)), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_no_input_gradient_is_computed_when_none_is_needed():
    x, weight, bias = _case_tensors(4, 1, 10, 10, (3, 3))
    out = conv_max_pool(x.detach(), weight, bias, [1, 1], [2, 2], "relu")
    (grad_weight,) = torch.autograd.grad(out.sum(), (weight,))
    expected = reference(x.detach(), weight, bias, (1, 1), (2, 2), "relu")
    torch.testing.assert_close(grad_weight, torch.autograd.grad(expected.sum(), weight)[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("conv", "pool", "conv_out", "fuses"),
    [
        (Conv2D(8, 3, activation="relu"), Pool2D("max", 2), Grid(8, 8, 8), True),
        (Conv2D(8, 3, activation="sigmoid"), Pool2D("max", (2, 3)), Grid(8, 9, 8), True),
        (Conv2D(8, 3), Pool2D("max", 2, padding="same"), Grid(8, 8, 8), True),  # 'same' that pads nothing
        (Conv2D(8, 3), Pool2D("max", 2, padding="same"), Grid(7, 8, 8), False),  # pads a -inf row
        (Conv2D(8, 3), Pool2D("avg", 2), Grid(8, 8, 8), False),
        (Conv2D(8, 3), Pool2D("max", 3, strides=2), Grid(8, 8, 8), False),  # overlapping windows
        (Conv2D(8, 3, activation="softmax"), Pool2D("max", 2), Grid(8, 8, 8), False),  # mixes channels
    ],
)
def test_which_pairs_fuse(conv, pool, conv_out, fuses):
    assert fusable(conv, pool, conv_out) is fuses


FUSED_SPECS = {
    "seed-cnn": get_preset("seed-cnn"),
    "same-asymmetric-c3": ModelSpec(
        InputSpec.frames(3, 9, 8, 3),
        (Conv2D(5, 4, padding="same", activation="tanh"), Pool2D("max", 2), Conv2D(4, 2), Pool2D("max", 2), Flatten(), LSTM(6)),
    ),
    "grid-after-conv-lstm": ModelSpec(
        InputSpec.frames(3, 8, 8, 2),
        (ConvLSTM2D(3, 3, padding="same"), Conv2D(4, 3, activation="relu"), Pool2D("max", 2), Flatten(), Dense(2)),
    ),
}


@pytest.mark.parametrize("name", FUSED_SPECS)
def test_model_with_fused_stages_equals_the_layer_by_layer_model(name):
    spec = FUSED_SPECS[name]
    fused = torch_impl.build_model(spec).double()
    assert fused.active_fusions()
    plain = torch_impl.build_model(spec).double()
    plain.load_state_dict(fused.state_dict())
    plain.fuse_conv_pool(False)
    assert not plain.active_fusions()
    inp = spec.input
    x = torch.randn(2, inp.timesteps, inp.channels, inp.height, inp.width, dtype=torch.float64)
    out_fused, out_plain = fused(x), plain(x)
    torch.testing.assert_close(out_fused, out_plain, rtol=0, atol=1e-12)
    out_fused.sum().backward()
    out_plain.sum().backward()
    for (key, a), b in zip(fused.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-10, msg=key)


def test_under_bf16_autocast_the_fused_stage_runs_in_fp32_after_a_bf16_layer():
    """A plain conv before the fused pair hands over bf16 frames; the fused stage computes in its weights' fp32."""
    spec = ModelSpec(
        InputSpec.frames(4, 10, 10, 2), (Conv2D(3, 1), Conv2D(4, 3, activation="relu"), Pool2D("max", 2), Flatten(), LSTM(3))
    )
    model = torch_impl.build_model(spec).eval()
    assert model.active_fusions() == {"conv2d_2": "pool2d_1"}
    x = torch.randn(2, 4, 2, 10, 10)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
    assert out.dtype == torch.bfloat16
    assert (out.float() - expected).abs().max().item() <= BF16_FORWARD_ATOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_runs_the_layers_one_by_one_with_the_same_result():
    spec = get_preset("seed-cnn")
    model = torch_impl.build_model(spec).eval()
    x = torch.randn(2, 100, 1, 10, 10)
    with torch.no_grad():
        expected = model(x)
        got = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
