"""The 2D and 3D spatial layers (transposed, depthwise and separable convolutions, padding, cropping, upsampling,
3D pooling, channel dropout): torch modules against slow references written here from Keras' and TensorFlow's
definitions, their shapes and refusals, their FLOP counts and Keras' initial weights."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import torch_impl
from benchmarks.flops import count_layers
from lstm2d.spec import (
    LSTM,
    Conv2D,
    Conv2DTranspose,
    Conv3DTranspose,
    Cropping2D,
    Cropping3D,
    DecodeContext,
    DepthwiseConv2D,
    Flatten,
    Frames,
    GlobalPool3D,
    Grid,
    InputSpec,
    ModelSpec,
    Pool3D,
    SeparableConv2D,
    SpatialDropout2D,
    SpatialDropout3D,
    SpecError,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from tests.test_torch_layers import tf_same_pads
from torch_impl.build import keras_initial_weights
from torch_impl.layers.conv_variants import FrameConvTranspose2d, FrameConvTranspose3d, transpose_padding
from torch_impl.layers.pooling3d import FramePool3d
from torch_impl.layers.resize import UpSampling
from torch_impl.layers.spatial_dropout import SpatialDropout

RNG = np.random.default_rng(0)


def _random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# -- transposed convolutions ---------------------------------------------------------------------------------------


def reference_transpose(x: np.ndarray, kernel: np.ndarray, strides, dilation, out_sizes) -> np.ndarray:
    """TensorFlow's transposed convolution, slowly: channels-first ``x`` (N, C, *sizes), Keras kernel (*window, F, C).
    Every input cell adds ``kernel * x`` at ``cell * stride + tap * dilation`` of the full result; the output keeps
    ``out`` cells of it from ``max(full - out, 0) // 2`` on, zeros beyond its end."""
    n, _, *sizes = x.shape
    window, filters = kernel.shape[:-2], kernel.shape[-2]
    full = [(s - 1) * st + (k - 1) * d + 1 for s, st, k, d in zip(sizes, strides, window, dilation, strict=True)]
    result = np.zeros((n, filters, *full), np.float64)
    for cell in itertools.product(*(range(s) for s in sizes)):
        for tap in itertools.product(*(range(k) for k in window)):
            at = tuple(c * st + t * d for c, t, st, d in zip(cell, tap, strides, dilation, strict=True))
            result[(slice(None), slice(None), *at)] += x[(slice(None), slice(None), *cell)] @ kernel[tap].T
    out = np.zeros((n, filters, *out_sizes), np.float64)
    kept = [slice(max(f - o, 0) // 2, max(f - o, 0) // 2 + min(f, o)) for f, o in zip(full, out_sizes, strict=True)]
    out[(slice(None), slice(None), *(slice(0, min(f, o)) for f, o in zip(full, out_sizes, strict=True)))] = result[
        (slice(None), slice(None), *kept)
    ]
    return out


TRANSPOSE_CASES = [
    # (height, width, kernel, strides, padding, output_padding, dilation)
    (4, 3, (3, 3), (2, 2), "same", None, (1, 1)),  # odd kernel, stride 2: one cell cut at the end
    (4, 5, (4, 2), (2, 1), "same", None, (1, 1)),  # even kernel: cut at both ends
    (3, 4, (3, 2), (3, 2), "valid", (1, 1), (1, 1)),
    (3, 3, (1, 2), (2, 3), "valid", None, (1, 1)),  # kernel under the stride: zeros at the end
    (5, 4, (3, 4), (2, 2), "same", (0, 1), (1, 1)),
    (4, 4, (2, 3), (3, 2), "same", (2, 0), (1, 1)),  # output_padding longer than the full result: zeros
    (5, 6, (3, 2), (1, 1), "same", None, (2, 3)),
    (4, 3, (2, 2), (1, 1), "valid", None, (2, 1)),
]


@pytest.mark.parametrize(("h", "w", "kernel", "strides", "padding", "output_padding", "dilation"), TRANSPOSE_CASES)
def test_conv2d_transpose_matches_tensorflow(h, w, kernel, strides, padding, output_padding, dilation):
    layer = Conv2DTranspose(3, kernel, strides=strides, padding=padding, output_padding=output_padding, dilation_rate=dilation)
    module = FrameConvTranspose2d(layer, Grid(h, w, 2))
    keras_kernel = _random(*kernel, 3, 2)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(keras_kernel.transpose(3, 2, 0, 1)))  # (in, filters, kh, kw)
        module.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    x = _random(2, 2, h, w)
    out_grid = layer.output_grid(Grid(h, w, 2))
    expected = (
        reference_transpose(x, keras_kernel, strides, dilation, out_grid.dims[:2]) + np.array([0.5, -1.0, 2.0])[:, None, None]
    )
    out = module(torch.from_numpy(x)).detach().numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_conv3d_transpose_matches_tensorflow_over_time():
    layer = Conv3DTranspose(2, (2, 3, 2), strides=(2, 2, 1), padding="same", output_padding=(1, 0, 0))
    frames = Frames(3, 4, 5, 2)
    module = FrameConvTranspose3d(layer, frames)
    keras_kernel = _random(2, 3, 2, 2, 2)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(keras_kernel.transpose(4, 3, 0, 1, 2)))
        module.bias.zero_()
    x = _random(2, 3, 2, 4, 5)  # (B, T, C, H, W)
    out = module(torch.from_numpy(x)).detach().numpy()  # (B, T', F, H', W')
    sizes = layer.output_shape(frames).dims[:3]
    expected = reference_transpose(x.transpose(0, 2, 1, 3, 4), keras_kernel, layer.strides, layer.dilation_rate, sizes)
    np.testing.assert_allclose(out, expected.transpose(0, 2, 1, 3, 4), rtol=0, atol=1e-5)


def test_transposed_padding_uses_torch_arguments_and_trims_only_an_odd_cut():
    assert transpose_padding(4, 3, 2, 1, 8) == (0, 0, 1)  # full 9: the odd cell at the end, a view
    assert transpose_padding(4, 4, 2, 1, 8) == (1, 0, 0)  # full 10: one at each end, torch's padding
    assert transpose_padding(4, 1, 2, 1, 8) == (0, 1, 0)  # full 7: a zero cell at the end, torch's output_padding


# -- 3D pooling ---------------------------------------------------------------------------------------------------


def reference_pool3d(x: np.ndarray, mode: str, pool, strides, padding) -> np.ndarray:
    """TensorFlow's 3D pooling, slowly, on channels-last volumes (N, T, H, W, C): padded cells never count."""
    sizes = x.shape[1:4]
    if padding == "same":
        outs = [math.ceil(n / s) for n, s in zip(sizes, strides, strict=True)]
        starts = [tf_same_pads(n, k, s)[0] for n, k, s in zip(sizes, pool, strides, strict=True)]
    else:
        outs = [(n - k) // s + 1 for n, k, s in zip(sizes, pool, strides, strict=True)]
        starts = [0, 0, 0]
    out = np.zeros((x.shape[0], *outs, x.shape[-1]))
    for index in itertools.product(*(range(o) for o in outs)):
        lows = [i * s - b for i, s, b in zip(index, strides, starts, strict=True)]
        window = x[(slice(None), *(slice(max(lo, 0), min(lo + k, n)) for lo, k, n in zip(lows, pool, sizes, strict=True)))]
        out[(slice(None), *index)] = window.max(axis=(1, 2, 3)) if mode == "max" else window.mean(axis=(1, 2, 3))
    return out


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    ("frames", "pool", "strides", "padding"),
    [
        ((5, 7, 6), (1, 2, 2), None, "valid"),
        ((5, 7, 6), (2, 3, 2), (2, 2, 1), "same"),
        ((4, 5, 5), (3, 2, 2), (1, 1, 1), "same"),
        ((6, 4, 5), (2, 1, 1), None, "same"),  # over time only
        ((5, 6, 4), (3, 3, 2), (2, 1, 2), "valid"),
    ],
)
def test_pool3d_matches_tensorflow_semantics(mode, frames, pool, strides, padding):
    layer = Pool3D(mode, pool, strides=strides, padding=padding)
    x = _random(2, *frames, 3) - 2.0  # mostly negative: a zero pad would win a max
    module = FramePool3d(layer, Frames(*frames, 3))
    out = module(torch.from_numpy(x).permute(0, 1, 4, 2, 3)).permute(0, 1, 3, 4, 2).numpy()
    expected = reference_pool3d(x.astype(np.float64), mode, pool, layer.window_strides, padding)
    assert out.shape == (2, *layer.output_shape(Frames(*frames, 3)).dims)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_pool3d_over_frames_alone_is_one_per_frame_pool():
    module = FramePool3d(Pool3D("max", (1, 2, 2)), Frames(4, 6, 6, 2))
    assert module.frame_pool is not None and module.time_pool is None


def test_global_pool3d_reduces_time_height_and_width():
    spec = ModelSpec(InputSpec.frames(3, 4, 5, 2), (GlobalPool3D("max"),))
    x = torch.randn(2, 3, 2, 4, 5)
    torch.testing.assert_close(torch_impl.build_model(spec)(x), x.amax(dim=(1, 3, 4)))


# -- resizing ------------------------------------------------------------------------------------------------------


def reference_bilinear(x: np.ndarray, factors) -> np.ndarray:
    """TensorFlow's ``resize_bilinear`` with half-pixel centres on (N, C, H, W): source ``(i + 0.5) / factor - 0.5``,
    its neighbours clamped to the grid, weights by the distance to the lower one."""
    out = x.astype(np.float64)
    for axis, factor in zip((2, 3), factors, strict=True):
        size = out.shape[axis]
        source = (np.arange(size * factor) + 0.5) / factor - 0.5
        lower = np.floor(source)
        weight = source - lower
        low = np.clip(lower, 0, size - 1).astype(int)
        high = np.clip(lower + 1, 0, size - 1).astype(int)
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        out = np.take(out, low, axis) * (1 - weight.reshape(shape)) + np.take(out, high, axis) * weight.reshape(shape)
    return out


@pytest.mark.parametrize("factors", [(2, 2), (3, 2), (1, 4)])
def test_bilinear_upsampling_is_tensorflows_resize(factors):
    x = _random(2, 3, 3, 4, 5)  # (B, T, C, H, W)
    out = UpSampling(dict(zip((-2, -1), factors, strict=True)), "bilinear")(torch.from_numpy(x)).numpy()
    expected = reference_bilinear(x.reshape(6, 3, 4, 5), factors).reshape(2, 3, 3, 4 * factors[0], 5 * factors[1])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_nearest_upsampling_repeats_cells_per_frame_and_over_time():
    x = _random(2, 3, 2, 4, 5)  # (B, T, C, H, W)
    frames = UpSampling({-2: 2, -1: 3})(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(frames, x.repeat(2, axis=3).repeat(3, axis=4))
    volume = UpSampling({-4: 2, -2: 1, -1: 2})(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(volume, x.repeat(2, axis=1).repeat(2, axis=4))


def test_padding_and_cropping_per_frame_and_over_time():
    spec = ModelSpec(
        InputSpec.frames(3, 5, 4, 2),
        (ZeroPadding2D(((1, 2), (0, 1))), Cropping2D(((2, 0), (1, 1))), ZeroPadding3D(((1, 0), (0, 0), (2, 1))),
         Cropping3D(((0, 2), (1, 0), (0, 1)))),
    )  # fmt: skip
    x = _random(2, 3, 5, 4, 2)  # Keras layout (B, T, H, W, C)
    expected = np.pad(x, ((0, 0), (0, 0), (1, 2), (0, 1), (0, 0)))[:, :, 2:, 1:-1]
    expected = np.pad(expected, ((0, 0), (1, 0), (0, 0), (2, 1), (0, 0)))[:, :-2, 1:, :-1]
    model = torch_impl.build_model(spec, input_layout="channels_last")
    out = model(torch.from_numpy(x)).numpy()
    assert out.shape == (2, *spec.output_shapes()[0].dims)
    np.testing.assert_array_equal(out, expected)


def test_frames_stored_time_major_give_the_same_numbers():
    spec = ModelSpec(
        InputSpec.frames(4, 8, 7, 2),
        (Conv2D(2, 3), DepthwiseConv2D(3, depth_multiplier=2, padding="same"), UpSampling2D(2, "bilinear"), ZeroPadding2D(1),
         Cropping2D(((1, 0), (0, 2))), Conv2DTranspose(2, 3, strides=2, padding="same"), SeparableConv2D(3, 2),
         UpSampling2D((1, 2)), Flatten(), LSTM(3)),
    )  # fmt: skip
    model = torch_impl.build_model(spec).eval()
    assert model.time_major_entry  # per-frame layers with a Conv2D, then a recurrent layer
    x = torch.randn(3, 4, 2, 8, 7)
    out = model(x)
    model.time_major_entry = False
    torch.testing.assert_close(model(x), out)


# -- channel dropout -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("volume", [False, True])
def test_spatial_dropout_drops_whole_channels_in_training_only(volume):
    module = SpatialDropout(0.5, volume=volume)
    x = torch.rand(64, 3, 4, 5, 6) + 1.0  # (B, T, C, H, W), never 0
    assert torch.equal(module.eval()(x), x)
    out = module.train()(x)
    kept = out != 0
    torch.testing.assert_close(out[kept], 2.0 * x[kept])  # scaled by 1 / (1 - rate)
    per_map = kept.flatten(3)  # (B, T, C, H*W): a channel of a frame is kept or dropped whole
    assert torch.equal(per_map.all(-1), per_map.any(-1))
    per_sample = per_map.any(-1)  # (B, T, C)
    assert torch.equal(per_sample.all(1), per_sample.any(1)) == volume  # 3D: one mask for every frame of a sample
    assert 0.35 < kept.float().mean() < 0.65


# -- shapes, options and refusals ----------------------------------------------------------------------------------


def test_output_shapes_follow_keras():
    frames = Frames(3, 7, 6, 2)
    assert Conv2DTranspose(4, 3, strides=2, padding="same").output_shape(frames) == Frames(3, 14, 12, 4)
    assert Conv2DTranspose(4, 3, strides=2).output_shape(frames) == Frames(3, 15, 13, 4)
    assert Conv2DTranspose(4, (3, 2), strides=2, padding="same", output_padding=1).output_shape(frames) == Frames(3, 14, 11, 4)
    assert DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3).output_shape(frames) == Frames(3, 4, 3, 6)
    assert SeparableConv2D(5, 3, dilation_rate=2).output_shape(Grid(7, 6, 2)) == Grid(3, 2, 5)
    assert UpSampling2D((2, 3)).output_shape(frames) == Frames(3, 14, 18, 2)
    assert ZeroPadding2D((1, 2)).padding == ((1, 1), (2, 2))
    assert Cropping3D(1).output_shape(frames) == Frames(1, 5, 4, 2)
    assert UpSampling3D((2, 1, 2)).output_shape(Frames(None, 4, 3, 2)) == Frames(None, 4, 6, 2)
    assert Pool3D("max", (1, 2, 2)).output_shape(Frames(None, 5, 4, 2)) == Frames(None, 2, 2, 2)
    assert Conv3DTranspose(2, 3, padding="same").output_shape(Frames(None, 5, 4, 2)) == Frames(None, 5, 4, 2)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Conv2DTranspose(2, 3, strides=2, output_padding=2),
            r"output_padding: expected None or 2 ints, each .*less than",
        ),
        (lambda: Conv2DTranspose(2, 3, strides=2, dilation_rate=2), r"strides > 1 with dilation_rate > 1"),
        (lambda: ZeroPadding2D(((1, 2, 3), (0, 0))), r"padding: expected a count of cells"),
        (lambda: Cropping2D(((3, 3), (0, 0))).output_shape(Grid(6, 5, 1)), r"shrinks the frame below 1x1"),
        (lambda: UpSampling2D(2, "bicubic"), r"interpolation: expected one of 'nearest', 'bilinear'"),
        (lambda: Pool3D("avg", (2, 2, 2)).output_shape(Frames(None, 4, 4, 1)), r"time=None.*each frame alone"),
        (lambda: Conv3DTranspose(2, 3).output_shape(Frames(None, 4, 4, 1)), r"time=None.*keep its length"),
        (lambda: Pool3D("max").output_shape(Grid(4, 4, 1)), r"expects frames"),
        (
            lambda: ModelSpec(
                InputSpec.frames(3, 4, 4, 2), (Conv2DTranspose(2, 2), Pool3D("max", 1)), data_format="channels_first"
            ),
            r"pool3d pool3d_1: a channels_first model's frames .* MaxPooling3D / AveragePooling3D cannot read",
        ),
    ],
)
def test_what_keras_cannot_do_or_lstm2d_does_not_is_refused_by_name(build, message):
    with pytest.raises(SpecError, match=message):
        build()


def test_keras_options_lstm2d_does_not_implement_are_problems():
    context = DecodeContext(name="up", shape=Grid(4, 4, 2))
    UpSampling2D.from_keras("UpSampling2D", {"size": [2, 2], "interpolation": "nearest"}, context)
    with pytest.raises(SpecError, match="interpolation: expected one of 'nearest', 'bilinear', got 'bicubic'"):
        UpSampling2D.from_keras("UpSampling2D", {"size": [2, 2], "interpolation": "bicubic"}, context)
    GlobalPool3D.from_keras("GlobalAveragePooling3D", {"keepdims": True}, context)
    SpatialDropout2D.from_keras("SpatialDropout2D", {"rate": 0.2, "noise_shape": [None, 1, 1, 2]}, context)
    assert context.problems == ["keepdims=True is not supported (lstm2d implements keepdims=False)",
                                "noise_shape=[None, 1, 1, 2] is not supported (lstm2d implements noise_shape=None)"]  # fmt: skip


# -- FLOPs and initial weights -------------------------------------------------------------------------------------


def test_flops_count_every_multiply_add_of_the_convolutions():
    spec = ModelSpec(
        InputSpec.frames(5, 6, 4, 3),
        (Conv2DTranspose(2, (3, 2), strides=2, padding="same"), DepthwiseConv2D(3, depth_multiplier=2),
         SeparableConv2D(4, (2, 3), depth_multiplier=3, padding="same"), Conv3DTranspose(2, (2, 3, 3), strides=(1, 2, 2)),
         SpatialDropout3D(0.1), Pool3D("avg", (1, 2, 2)), UpSampling3D(2), GlobalPool3D()),
    )  # fmt: skip
    layers = {f.name: f for f in count_layers(spec)}
    # every input cell of every frame scatters its 3 channels through a 3x2 window into 2 filters
    assert layers["conv2d_transpose_1"].forward == 2 * 5 * (6 * 4) * (3 * 2) * 3 * 2
    # (12, 8, 2) -> (10, 6, 4): a 3x3 dot product per output cell and output channel
    assert layers["depthwise_conv2d_1"].forward == 2 * 5 * (10 * 6) * (3 * 3) * 4
    # depthwise 2x3 per cell of 4 channels x 3, then 12 -> 4 channels per cell
    assert layers["separable_conv2d_1"].forward == 2 * 5 * (10 * 6) * (2 * 3 * 12 + 12 * 4)
    # every input cell of the (5, 10, 6) volume scatters its 4 channels through a 2x3x3 window into 2 filters
    assert layers["conv3d_transpose_1"].forward == 2 * (5 * 10 * 6) * (2 * 3 * 3) * 4 * 2
    assert layers["depthwise_conv2d_1"].backward_weights == layers["depthwise_conv2d_1"].forward
    assert all(layers[name].forward == 0 for name in ("spatial_dropout3d_1", "pool3d_1", "up_sampling3d_1", "global_pool3d_1"))


def test_keras_initial_kernels_are_glorot_with_keras_fans():
    spec = ModelSpec(
        InputSpec.frames(2, 6, 5, 8),
        (DepthwiseConv2D(3, depth_multiplier=4), SeparableConv2D(16, 3, depth_multiplier=2), Conv2DTranspose(12, 2)),
    )
    weights = keras_initial_weights(spec, np.random.default_rng(0))
    limits = {  # sqrt(6 / (fan_in + fan_out)), fans of (*window, a, b): a and b times the window
        ("depthwise_conv2d_1", "kernel"): math.sqrt(6 / (9 * 8 + 9 * 4)),
        ("separable_conv2d_1", "depthwise_kernel"): math.sqrt(6 / (9 * 32 + 9 * 2)),
        ("separable_conv2d_1", "pointwise_kernel"): math.sqrt(6 / (64 + 16)),
        ("conv2d_transpose_1", "kernel"): math.sqrt(6 / (4 * 12 + 4 * 16)),
    }
    for (layer, variable), limit in limits.items():
        largest = np.abs(weights[layer][variable]).max()
        assert 0.8 * limit < largest <= limit, (layer, variable, largest, limit)
    assert not weights["separable_conv2d_1"]["bias"].any()
