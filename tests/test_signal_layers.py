"""The 1D layers' torch modules against Keras' rules written out in numpy (TensorFlow's padding and cropping), over the
awkward settings: odd and even kernels, strides on odd lengths, dilation, causal padding, transposed-convolution crops.
Parity with Keras itself: ``parity_tests/test_one_d.py``."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lstm2d.spec import (
    Conv1D,
    Conv1DTranspose,
    ConvLSTM1D,
    ConvLSTM2D,
    Frames,
    GlobalPool1D,
    InputSpec,
    ModelSpec,
    Pool1D,
    Shape,
    SpecError,
    Steps,
    same_padding,
)
from torch_impl.build import keras_initial_weights
from torch_impl.convert import conv1d, conv_lstm
from torch_impl.layers import ConvLSTM1d, ConvLSTM2d, SignalConv1d, SignalConvTranspose1d
from torch_impl.layers.conv1d import over_signals
from torch_impl.layers.pooling1d import GlobalPool1d, SignalPool1d

RNG = np.random.default_rng(0)


def _random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def _load(module: torch.nn.Module, state: dict[str, np.ndarray]) -> torch.nn.Module:
    module.double().load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return module


def _run(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def _keras_conv1d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, layer: Conv1D) -> np.ndarray:
    """Keras' Conv1D on ``x`` (B, n, C), kernel (k, C, F): pad (TensorFlow's ``same``, or causal), then correlate."""
    (k,), (s,), (d,), n = layer.kernel_size, layer.strides, layer.dilation_rate, x.shape[1]
    before, after = {"valid": (0, 0), "causal": ((k - 1) * d, 0), "same": same_padding(n, k, s, d)}[layer.padding]
    padded = np.pad(x, ((0, 0), (before, after), (0, 0)))
    length = (padded.shape[1] - (k - 1) * d - 1) // s + 1
    return bias + sum(padded[:, j * d : j * d + (length - 1) * s + 1 : s] @ kernel[j] for j in range(k))


def _keras_conv1d_transpose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, layer: Conv1DTranspose) -> np.ndarray:
    """TensorFlow's transposed convolution: every input step adds the kernel at ``i * s + j * d`` into the full output,
    which is cropped as the forward ``same`` convolution of Keras' output length would pad it (``valid``: not at all)."""
    (k,), (s,), (d,), (batch, n, _) = layer.kernel_size, layer.strides, layer.dilation_rate, x.shape
    dilated = (k - 1) * d + 1
    full = np.zeros((batch, (n - 1) * s + dilated, layer.filters))
    for i, j in itertools.product(range(n), range(k)):
        full[:, i * s + j * d] += x[:, i] @ kernel[j].T  # kernel (k, filters, in)
    length = layer.output_length(n)
    before = (max((n - 1) * s + dilated - length, 0) // 2) if layer.padding == "same" else 0
    out = np.zeros((batch, length, layer.filters))
    kept = full[:, before : before + length]
    out[:, : kept.shape[1]] = kept
    return out + bias


def _fits(layer: Conv1D | Pool1D, length: int) -> bool:
    """Whether ``layer`` makes a non-empty output of a signal of ``length`` (the spec refuses the others)."""
    try:
        layer.output_shape(Steps(length, 2))
    except SpecError:
        return False
    return True


CONV1D_CASES = [
    (Conv1D(3, k, strides=s, padding=p, dilation_rate=d), length)
    for k, s, d, p, length in itertools.product((1, 2, 3, 4), (1, 2, 3), (1, 2), ("valid", "same", "causal"), (5, 8))
    if (s == 1 or d == 1) and _fits(Conv1D(3, k, strides=s, padding=p, dilation_rate=d), length)
]


@pytest.mark.parametrize(
    ("layer", "length"),
    CONV1D_CASES,
    ids=lambda case: (
        f"k{case.kernel_size[0]}-s{case.strides[0]}-d{case.dilation_rate[0]}-{case.padding}"
        if isinstance(case, Conv1D)
        else f"n{case}"
    ),
)
def test_conv1d_pads_like_keras(layer, length):
    kernel, bias = _random(layer.kernel_size[0], 2, 3), _random(3)
    module = _load(SignalConv1d(layer, 2), conv1d.keras_to_torch(kernel, bias, input_axis=1))
    x = _random(2, length, 2)
    np.testing.assert_allclose(_run(module, x), _keras_conv1d(x, kernel, bias, layer), rtol=1e-12, atol=1e-12)


TRANSPOSE_CASES = [
    Conv1DTranspose(3, k, strides=s, padding=p, dilation_rate=d)
    for k, s, d, p in itertools.product((1, 2, 3, 4, 5), (1, 2, 3), (1, 2), ("valid", "same"))
    if s == 1 or d == 1
]


@pytest.mark.parametrize("length", [1, 4, 5])
@pytest.mark.parametrize(
    "layer",
    TRANSPOSE_CASES,
    ids=lambda layer: f"k{layer.kernel_size[0]}-s{layer.strides[0]}-d{layer.dilation_rate[0]}-{layer.padding}",
)
def test_conv1d_transpose_crops_like_tensorflow(layer, length):
    """Every case of torch's crop: k - s even or odd (one more cell cut at the end), k < s (zeros appended), dilated."""
    kernel, bias = _random(layer.kernel_size[0], 3, 2), _random(3)
    module = _load(SignalConvTranspose1d(layer, 2), conv1d.keras_to_torch(kernel, bias, input_axis=2))
    x = _random(2, length, 2)
    got = _run(module, x)
    assert got.shape == (2, layer.output_length(length), 3)
    np.testing.assert_allclose(got, _keras_conv1d_transpose(x, kernel, bias, layer), rtol=1e-12, atol=1e-12)


def _keras_pool(x: np.ndarray, layer: Pool1D) -> np.ndarray:
    """TensorFlow's pooling: over the valid steps of each window (padding never wins a max, never counts in a mean)."""
    (k,), (s,), n = layer.pool_size, layer.window_strides, x.shape[1]
    before, after = same_padding(n, k, s) if layer.padding == "same" else (0, 0)
    starts = range(-before, n + after - k + 1, s)
    reduce = np.max if layer.mode == "max" else np.mean
    return np.stack([reduce(x[:, max(t, 0) : t + k], axis=1) for t in starts], axis=1)


POOL_CASES = [
    (Pool1D(m, k, strides=s, padding=p), length)
    for m, k, s, p, length in itertools.product(("max", "avg"), (1, 2, 3), (1, 2, 3), ("valid", "same"), (1, 5, 6, 7))
    if _fits(Pool1D(m, k, strides=s, padding=p), length)
]


@pytest.mark.parametrize(
    ("layer", "length"),
    POOL_CASES,
    ids=lambda case: (
        f"{case.mode}-k{case.pool_size[0]}-s{case.window_strides[0]}-{case.padding}" if isinstance(case, Pool1D) else f"n{case}"
    ),
)
def test_pool1d_like_tensorflow(layer, length):
    x = _random(2, length, 3)
    np.testing.assert_allclose(_run(SignalPool1d(layer).double(), x), _keras_pool(x, layer), rtol=1e-12, atol=1e-12)


def test_a_1d_module_on_signals_runs_on_every_step():
    """1D signals (B, T, L, C): every step's signal on its own, as Keras' TimeDistributed runs the layer."""
    layer = Conv1D(4, 3, strides=2, padding="same", activation="softmax")
    module = SignalConv1d(layer, 2).double()
    x = torch.from_numpy(_random(3, 5, 7, 2))
    with torch.no_grad():
        steps = torch.stack([module(x[:, t]) for t in range(5)], dim=1)
        torch.testing.assert_close(module(x), steps, rtol=0, atol=0)
        torch.testing.assert_close(module(x).sum(-1), torch.ones(3, 5, 4, dtype=torch.float64))  # softmax over the filters
    pool = SignalPool1d(Pool1D("max", 2)).double()
    assert over_signals(lambda s: s, x).data_ptr() == x.data_ptr()  # the transposes are views
    torch.testing.assert_close(pool(x), torch.stack([pool(x[:, t]) for t in range(5)], dim=1), rtol=0, atol=0)


def test_masked_average_keeps_whatever_the_padding_holds_out():
    x = torch.from_numpy(_random(3, 6, 4))
    mask = torch.arange(6)[None, :] < torch.tensor([6, 2, 1])[:, None]
    module = GlobalPool1d("avg", keepdims=False)
    expected = torch.stack([x[b, : int(n)].mean(0) for b, n in enumerate(mask.sum(1))])
    x[~mask] = float("inf")
    torch.testing.assert_close(module(x, mask), expected)
    assert module(x, mask).isfinite().all()
    assert GlobalPool1d("avg", keepdims=True)(x, mask).shape == (3, 1, 4)
    torch.testing.assert_close(GlobalPool1d("max", keepdims=False)(x, mask), x.amax(1))  # Keras' max drops the mask


def test_conv_lstm1d_is_the_conv_lstm2d_cell_on_one_row():
    """ConvLSTM1D over (T, L, C) computes ConvLSTM2D with a (1, k) kernel over (T, 1, L, C): one cell serves both."""
    options = {"padding": "same", "return_sequences": True, "go_backwards": True, "recurrent_activation": "hard_sigmoid"}
    one_d, two_d = ConvLSTM1D(3, 3, strides=1, **options), ConvLSTM2D(3, (1, 3), **options)
    kernel, recurrent_kernel, bias = _random(3, 2, 12), _random(3, 3, 12), _random(12)
    module_1d = _load(ConvLSTM1d(one_d, Shape((4, 6, 2))), conv_lstm.keras_to_torch(kernel, recurrent_kernel, bias))
    module_2d = _load(ConvLSTM2d(two_d, Frames(4, 1, 6, 2)), conv_lstm.keras_to_torch(kernel[None], recurrent_kernel[None], bias))
    x = _random(2, 4, 6, 2)  # (B, T, L, C)
    frames = torch.from_numpy(x).permute(0, 1, 3, 2).unsqueeze(-2)  # (B, T, C, 1, L)
    with torch.no_grad():
        expected = module_2d(frames).squeeze(-2).transpose(-1, -2)  # (B, T, L, F)
    np.testing.assert_allclose(_run(module_1d, x), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_a_sequence_is_one_signal_of_its_time_axis():
    """On a sequence (T, F) the 1D layer runs over time: its output has the same steps as a per-step signal of length T."""
    layer = Conv1D(2, 3, padding="causal")
    assert layer.output_shape(Steps(7, 3)) == Steps(7, 2) and not layer.runs_per_frame(Steps(7, 3))
    assert layer.output_shape(Shape((4, 7, 3))) == Shape((4, 7, 2)) and layer.runs_per_frame(Shape((4, 7, 3)))
    assert GlobalPool1D().output_shape(Steps(None, 3)) == Shape((3,))


def test_keras_initial_weights_of_the_1d_kinds():
    """Keras' defaults on Keras' kernel shapes: glorot_uniform counts the window in both fans (Conv1D (k, in/groups,
    filters), Conv1DTranspose (k, filters, in)), ConvLSTM1D's recurrent kernel (k, F, 4F) is orthogonal as (k*F, 4F)
    and its forget gate's bias block is 1 (unit_forget_bias)."""
    spec = ModelSpec(
        InputSpec((4, 10, 6)),
        (Conv1D(8, 3, groups=2, name="conv"), Conv1DTranspose(5, 4, strides=2, name="up"), ConvLSTM1D(3, 2, name="cell")),
    )
    weights = keras_initial_weights(spec, np.random.default_rng(3))
    kernels = {"conv": (3, 3, 8), "up": (4, 5, 8), "cell": (2, 5, 12)}
    for name, shape in kernels.items():
        kernel = weights[name]["kernel"]
        limit = np.sqrt(6.0 / (shape[0] * (shape[1] + shape[2])))
        assert kernel.shape == shape and np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit, name
    recurrent = weights["cell"]["recurrent_kernel"].reshape(2 * 3, 12)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(6), atol=1e-5)
    np.testing.assert_array_equal(weights["cell"]["bias"], np.repeat([0.0, 1.0, 0.0, 0.0], 3))
    assert not weights["conv"]["bias"].any() and not weights["up"]["bias"].any()
