"""Torch layers with Keras semantics, against independent slow references written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstm2d.parity import torch_trajectory
from lstm2d.spec import (
    ACTIVATIONS,
    LAYER_KINDS,
    ActivityRegularization,
    AlphaDropout,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GaussianNoise,
    Grid,
    GroupNorm,
    InputSpec,
    LayerNorm,
    ModelSpec,
    Permute,
    Pool2D,
    ReLU,
    RMSNorm,
)
from torch_impl.kinds import TORCH_KINDS, TorchKind, torch_kind
from torch_impl.layers import DenseLayer, FrameConv2d, FramePool2d, KerasBatchNorm, activation_fn
from torch_impl.layers.activation_layers import KerasReLU, KerasSoftmax
from torch_impl.layers.normalization import KerasGroupNorm
from torch_impl.layers.regularization import AlphaDropoutLayer, GaussianDropoutLayer, GaussianNoiseLayer
from torch_impl.layers.wrappers import TimeDistributedModule
from torch_impl.layout import KERAS, FeatureOrder, NodePlan
from torch_impl.model import plan_of


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
    "celu": lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),  # alpha 1
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "log_sigmoid": lambda x: -np.log1p(np.exp(-x)),
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x)),
    "sparse_sigmoid": lambda x: np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2)),
    "squareplus": lambda x: (x + np.sqrt(x**2 + 4)) / 2,  # b 4
    "tanh_shrink": lambda x: x - np.tanh(x),
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


# -- shape, normalisation, regularisation and activation layers ------------------------------------------------------


def build_torch_layer(node: NodePlan) -> torch.nn.Module:
    return torch_kind(node.shapes.layer).build(node.shapes.layer, node, node.data_format)


def _frames(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_layer_norm_over_channels_first_axes_is_layer_norm_of_the_keras_layout():
    """Keras' formula on channels-first frames (over the channels; over (C, H, W) with gamma (C, H, W)) is torch's
    layer_norm of the same values with the channels last."""
    x = _frames(2, 3, 4, 5, 6)  # (B, T, C, H, W)
    node = plan_of(ModelSpec(InputSpec.frames(3, 5, 6, 4), (LayerNorm(epsilon=0.01),))).nodes[0]
    module = build_torch_layer(node).double()
    with torch.no_grad():
        module.weight.copy_(torch.linspace(0.5, 1.5, 4))
        module.bias.copy_(torch.linspace(-1, 1, 4))
    expected = F.layer_norm(x.movedim(2, -1), (4,), module.weight, module.bias, 0.01).movedim(-1, 2)
    torch.testing.assert_close(module(x), expected)
    whole = build_torch_layer(plan_of(ModelSpec(InputSpec.frames(3, 5, 6, 4), (LayerNorm(axis=(2, 3, 4)),))).nodes[0])
    assert whole.fused and whole.weight.shape == (4, 5, 6)  # channels first, like the frames: one fused layer_norm
    torch.testing.assert_close(whole.double()(x), F.layer_norm(x, (4, 5, 6), None, None, 1e-3).double(), rtol=0, atol=1e-12)


def test_group_norm_of_frames_is_group_norm_with_time_in_the_spatial_axes():
    """Keras' GroupNormalization of a sequence of frames reduces over time too: torch's group_norm of (B, C, T, H, W)."""
    x = _frames(2, 3, 4, 5, 6)  # (B, T, C, H, W)
    module = KerasGroupNorm(GroupNorm(2), dim=-3, features=4, groups=2).double()
    with torch.no_grad():
        module.weight.copy_(torch.linspace(0.5, 1.5, 4))
    expected = F.group_norm(x.movedim(2, 1), 2, module.weight, module.bias, 1e-3).movedim(1, 2)
    torch.testing.assert_close(module(x), expected)


RELU_CASES = [(None, 0.0, 0.0), (6.0, 0.0, 0.0), (1.5, 0.1, 0.0), (None, 0.2, 0.5), (1.0, 0.3, 0.5), (None, 0.0, 0.5)]


@pytest.mark.parametrize(("max_value", "slope", "threshold"), RELU_CASES)
def test_relu_layer_follows_keras_formula(max_value, slope, threshold):
    x = np.linspace(-3, 8, 45)
    expected = np.where(x > threshold, x, 0.0)
    expected = expected if max_value is None else np.clip(expected, 0, max_value)
    expected = expected - slope * np.maximum(threshold - x, 0)  # below the threshold: slope * (x - threshold)
    got = KerasReLU(ReLU(max_value, slope, threshold))(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_softmax_over_several_axes_and_with_a_mask():
    x = _frames(2, 3, 4)
    joint = KerasSoftmax((-2, -1))(x)
    torch.testing.assert_close(joint.sum(dim=(-2, -1)), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(joint, torch.softmax(x.flatten(1), dim=-1).view_as(x))
    mask = torch.tensor([[True, True, False], [True, False, False]])
    scores = _frames(2, 3, seed=1)
    masked = KerasSoftmax((-1,))(scores, mask)
    assert (masked[~mask] == 0).all()
    torch.testing.assert_close(masked[1, 0], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(masked[0, :2], torch.softmax(scores[0, :2], dim=0))


def test_dense_on_channels_first_frames_is_the_linear_layer_on_the_channels():
    layer = Dense(3, activation="softmax")
    linear, conv = DenseLayer(layer, 4).double(), DenseLayer(layer, 4, channels_first=True).double()
    conv.load_state_dict(linear.state_dict())
    x = _frames(2, 3, 4, 5, 6)  # (B, T, C, H, W)
    torch.testing.assert_close(conv(x), linear(x.movedim(2, -1)).movedim(-1, 2))  # softmax over the channels too


def test_noise_layers_are_identities_at_inference_and_keras_distributions_in_training():
    x = torch.ones(200_000, dtype=torch.float64)
    torch.manual_seed(0)
    for module in (GaussianNoiseLayer(0.5), GaussianDropoutLayer(0.2), AlphaDropoutLayer(0.3)):
        assert torch.equal(module.eval()(x), x)
    noisy = GaussianNoiseLayer(0.5).train()(x)
    dropped = GaussianDropoutLayer(0.2).train()(x)  # x * N(1, 0.2 / 0.8)
    assert abs(noisy.mean().item() - 1) < 0.01 and abs(noisy.std().item() - 0.5) < 0.01
    assert abs(dropped.mean().item() - 1) < 0.01 and abs(dropped.std().item() - 0.5) < 0.01
    selu_like = AlphaDropoutLayer(0.3).train()(torch.randn(200_000, dtype=torch.float64))  # keeps mean 0 and variance 1
    assert abs(selu_like.mean().item()) < 0.02 and abs(selu_like.var().item() - 1) < 0.02


def test_rms_norm_over_channels_first_axes_is_rms_norm_of_the_keras_layout():
    """Keras' formula on channels-first frames over the channels is torch's rms_norm of the same values with the
    channels last; over (C, H, W) it is one fused rms_norm with scale (C, H, W)."""
    x = _frames(2, 3, 4, 5, 6)  # (B, T, C, H, W)
    module = build_torch_layer(plan_of(ModelSpec(InputSpec.frames(3, 5, 6, 4), (RMSNorm(epsilon=0.01),))).nodes[0])
    with torch.no_grad():
        module.weight.copy_(torch.linspace(0.5, 1.5, 4))
    module = module.double()
    assert not module.fused
    expected = F.rms_norm(x.movedim(2, -1), (4,), module.weight, 0.01).movedim(-1, 2)
    torch.testing.assert_close(module(x), expected)
    whole = build_torch_layer(plan_of(ModelSpec(InputSpec.frames(3, 5, 6, 4), (RMSNorm(axis=(2, 3, 4)),))).nodes[0])
    assert whole.fused and whole.weight.shape == (4, 5, 6)  # channels first, like the frames
    x2 = x.square().mean(dim=(2, 3, 4), keepdim=True)
    torch.testing.assert_close(whole.double()(x), x * torch.rsqrt(x2 + 1e-6), rtol=0, atol=1e-12)


def test_layout_plans_of_the_shape_and_normalisation_kinds():
    """Dense and normalisations keep channels-first frames; a whole Flatten records a block per frame; GroupNorm gathers
    a flatten's features back to Keras' order (its groups are runs of them); a Permute that keeps the features last
    keeps their order, one that moves them gathers them."""
    spec = ModelSpec(
        InputSpec.frames(3, 5, 4, 2),
        (Dense(3), LayerNorm(), Flatten(), Permute((1, 2)), GroupNorm(2), Flatten(name="whole_seq")),
    )
    plan = plan_of(spec)
    dense, norm, flat, keep, group, _ = plan.nodes
    assert dense.layouts.outputs[0].channels_first and norm.layouts.outputs[0].channels_first
    assert flat.layouts.outputs[0].order == keep.layouts.outputs[0].order == FeatureOrder(((5, 4, 3),))
    assert group.conversions == [0] and group.layouts.inputs[0].order is None
    whole = plan_of(ModelSpec(InputSpec.frames(3, 5, 4, 2), (Flatten(whole=True), Dense(1)))).nodes[0]
    assert whole.layouts.outputs[0].order == FeatureOrder(((5, 4, 2),) * 3)
    moved = plan_of(ModelSpec(InputSpec.frames(3, 5, 4, 2), (Flatten(), Permute((2, 1)), Dense(1)))).nodes[1]
    assert moved.conversions == [0] and moved.layouts.outputs[0] == KERAS


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (GaussianNoise(0.1), r"gaussian_noise_1 draws at random in training"),
        (AlphaDropout(0.2), r"alpha_dropout_1 draws at random in training"),
        (ActivityRegularization(l2=0.01), r"adds a penalty to Keras' training loss that lstm2d's does not"),
    ],
)
def test_training_trajectories_refuse_layers_that_cannot_match_keras(layer, message):
    with pytest.raises(ValueError, match=message):
        torch_trajectory(ModelSpec(InputSpec.sequence(4, 3), (layer, Dense(1))), [], optimizer="sgd", loss="mse")
