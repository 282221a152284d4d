"""Torch layers with Keras semantics, against independent slow references written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstm2d.spec import ACTIVATIONS, LAYER_KINDS, BatchNorm, Conv2D, Dense, Grid, Pool2D
from torch_impl.kinds import TORCH_KINDS, TorchKind
from torch_impl.layers import DenseLayer, FrameConv2d, FramePool2d, KerasBatchNorm, activation_fn
from torch_impl.layers.wrappers import TimeDistributedModule


def tf_same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's rule, written out again here so the test does not trust the library's copy."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


CONV_CASES = [
    # (height, width, channels, kernel, strides, padding, dilation)
    (10, 10, 1, (3, 3), (1, 1), "same", (1, 1)),
    (10, 9, 2, (4, 2), (1, 1), "same", (1, 1)),  # even kernel: asymmetric
    (9, 8, 3, (3, 3), (2, 2), "same", (1, 1)),  # stride 2: asymmetric on the even side
    (11, 7, 2, (5, 3), (3, 2), "same", (1, 1)),
    (8, 8, 1, (2, 2), (2, 2), "same", (1, 1)),
    (10, 9, 2, (4, 2), (1, 1), "valid", (1, 1)),
    (11, 10, 3, (3, 3), (2, 2), "valid", (1, 1)),
    (10, 9, 2, (3, 2), (1, 1), "same", (2, 3)),  # dilation: effective kernel (5, 4), asymmetric in width
    (12, 9, 1, (3, 3), (1, 1), "valid", (2, 1)),
]


@pytest.mark.parametrize(("h", "w", "c", "kernel", "strides", "padding", "dilation"), CONV_CASES)
def test_conv_matches_explicit_tensorflow_padding(h, w, c, kernel, strides, padding, dilation):
    layer = Conv2D(4, kernel, strides=strides, padding=padding, dilation_rate=dilation, activation="tanh")
    conv = FrameConv2d(layer, Grid(h, w, c))
    x = torch.randn(5, c, h, w, generator=torch.Generator().manual_seed(0))
    out = conv(x)
    expected_grid = layer.output_grid(Grid(h, w, c))
    assert tuple(out.shape) == (5, 4, expected_grid.height, expected_grid.width)
    if padding == "same":
        (top, bottom) = tf_same_pads(h, kernel[0], strides[0], dilation[0])
        (left, right) = tf_same_pads(w, kernel[1], strides[1], dilation[1])
        x = F.pad(x, (left, right, top, bottom))
    expected = torch.tanh(F.conv2d(x, conv.weight, conv.bias, stride=strides, dilation=dilation))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_frames_run_as_one_batch_of_frames():
    conv = FrameConv2d(Conv2D(3, 3, padding="same"), Grid(6, 5, 2))
    frames = torch.randn(2, 4, 2, 6, 5)  # (B, T, C, H, W)
    out = conv(frames)
    assert tuple(out.shape) == (2, 4, 3, 6, 5)
    torch.testing.assert_close(out[1, 2], conv(frames[1, 2:3])[0])


def test_symmetric_same_padding_needs_no_copy():
    assert FrameConv2d(Conv2D(4, 3, padding="same"), Grid(10, 10, 1)).explicit_pad is None
    assert FrameConv2d(Conv2D(4, 4, padding="same"), Grid(10, 10, 1)).explicit_pad == (1, 2, 1, 2)


def reference_pool(x: np.ndarray, mode: str, kernel, strides, padding) -> np.ndarray:
    """Slow TensorFlow pooling on (N, C, H, W): padded cells never count, for max or for the average."""
    n, c, h, w = x.shape
    if padding == "same":
        out_h, out_w = math.ceil(h / strides[0]), math.ceil(w / strides[1])
        top, left = tf_same_pads(h, kernel[0], strides[0])[0], tf_same_pads(w, kernel[1], strides[1])[0]
    else:
        out_h, out_w = (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1
        top = left = 0
    out = np.zeros((n, c, out_h, out_w), np.float64)
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * strides[0] - top, j * strides[1] - left
            window = x[:, :, max(r0, 0) : min(r0 + kernel[0], h), max(c0, 0) : min(c0 + kernel[1], w)]
            out[:, :, i, j] = window.max(axis=(2, 3)) if mode == "max" else window.mean(axis=(2, 3))
    return out


POOL_CASES = [
    # (height, width, pool, strides, padding)
    (8, 8, (2, 2), None, "valid"),
    (9, 7, (2, 2), None, "valid"),
    (9, 7, (2, 2), None, "same"),  # odd sizes: the last window hangs over
    (8, 8, (3, 3), (2, 2), "same"),  # asymmetric: one padded row/column after
    (10, 9, (3, 3), (1, 1), "same"),  # symmetric
    (10, 9, (2, 3), (1, 1), "same"),  # even pool, stride 1: asymmetric on one axis
    (7, 11, (3, 2), (2, 3), "same"),
    (12, 8, (3, 3), (2, 1), "valid"),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(("h", "w", "pool", "strides", "padding"), POOL_CASES)
def test_pooling_matches_tensorflow_semantics(mode, h, w, pool, strides, padding):
    layer = Pool2D(mode, pool, strides=strides, padding=padding)
    x = (
        np.random.default_rng(1).standard_normal((3, 2, h, w)).astype(np.float32) - 2.0
    )  # mostly negative: a 0 pad would win a max
    out = FramePool2d(layer, Grid(h, w, 2))(torch.from_numpy(x)).numpy()
    expected = reference_pool(x.astype(np.float64), mode, pool, layer.strides, padding)
    assert out.shape == expected.shape
    assert out.shape[2:] == layer.output_grid(Grid(h, w, 2)).dims[:2]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_pooling_moves_its_valid_scale_with_the_module():
    pool = FramePool2d(Pool2D("avg", 3, strides=2, padding="same"), Grid(8, 8, 1))
    assert pool.valid_scale is not None
    assert "valid_scale" not in pool.state_dict()  # derived from the shape, never a checkpoint entry
    assert pool.to(torch.float64).valid_scale.dtype == torch.float64


def test_conv_softmax_is_over_channels_and_dense_softmax_over_the_last_axis():
    conv = FrameConv2d(Conv2D(4, 1, activation="softmax"), Grid(3, 3, 2))
    out = conv(torch.randn(2, 2, 3, 3))
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2, 3, 3))
    dense = DenseLayer(Dense(5, activation="softmax"), 4)
    out = dense(torch.randn(2, 3, 4))
    torch.testing.assert_close(out.sum(dim=-1), torch.ones(2, 3))


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x)


KERAS_FORMULAS = {  # Keras 3's definitions (keras/src/activations/activations.py), in numpy
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "hard_silu": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "hard_swish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),  # Keras 3: relu6(x + 3) / 6
    "hard_sigmoid_keras2": lambda x: np.clip(0.2 * x + 0.5, 0, 1),  # Keras 2 / tf.keras
    "tanh": np.tanh,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "exponential": np.exp,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    "log_softmax": lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
}


def test_every_activation_has_a_reference_here():
    assert set(KERAS_FORMULAS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_follow_keras_formulas(name):
    x = np.linspace(-7, 7, 57, dtype=np.float64).reshape(3, 19)
    got = activation_fn(name)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, KERAS_FORMULAS[name](x), rtol=1e-6, atol=1e-7)


def test_the_two_hard_sigmoids_differ():
    x = torch.tensor([1.0])
    assert activation_fn("hard_sigmoid")(x).item() == pytest.approx(1 / 6 + 0.5)
    assert activation_fn("hard_sigmoid_keras2")(x).item() == pytest.approx(0.7)


def test_time_distributed_batch_norm_trains_per_step_like_keras():
    """Keras' TimeDistributed calls its layer once per step: in training each step is normalised with its own batch
    moments and the moving averages take one update per step, in time order; at inference it is one folded call."""
    momentum, eps = 0.6, 1e-3
    module = TimeDistributedModule(KerasBatchNorm(BatchNorm(epsilon=eps, momentum=momentum), 3, spatial=True)).double()
    x = torch.randn(4, 3, 3, 5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # (B, T, C, H, W)
    out = module(x)
    frames = x.numpy()
    expected = np.empty_like(frames)
    mean, var = np.zeros(3), np.ones(3)
    for t in range(frames.shape[1]):  # the reference: Keras' loop, written out
        step = frames[:, t]  # (B, C, H, W)
        step_mean, step_var = step.mean(axis=(0, 2, 3)), step.var(axis=(0, 2, 3))  # biased, as Keras
        expected[:, t] = (step - step_mean[:, None, None]) / np.sqrt(step_var[:, None, None] + eps)
        mean, var = mean * momentum + step_mean * (1 - momentum), var * momentum + step_var * (1 - momentum)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(module.layer.running_mean.numpy(), mean, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(module.layer.running_var.numpy(), var, rtol=1e-10, atol=1e-10)
    assert not np.allclose(module.layer(x.flatten(0, 1)).detach().numpy(), expected.reshape(12, 3, 5, 2))  # folded: not it
    module.eval()
    torch.testing.assert_close(module(x), module.layer(x.flatten(0, 1)).unflatten(0, (4, 3)), rtol=0, atol=0)


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS.keys() | TORCH_KINDS.keys()))
def test_every_layer_kind_has_a_torch_entry(kind):
    assert kind in LAYER_KINDS, f"torch entry {kind!r} registered for a kind lstm2d.spec does not define"
    assert isinstance(TORCH_KINDS.get(kind), TorchKind), f"no torch entry for {kind!r}: register one in torch_impl/layers"
