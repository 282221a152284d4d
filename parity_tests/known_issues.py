"""Known Keras bugs that make one Keras backend disagree with the others, detected by probing, not by version.

The torch side follows Keras' documented semantics (TensorFlow's and JAX's results). Where a
Keras backend is known to be wrong, or cannot run a model at all, the affected parity cases are
expected to fail there; the test still runs and fails if Keras turns out to be right after all.
"""

from __future__ import annotations

from functools import cache
from itertools import pairwise

import numpy as np
import pytest

from lstm2d.spec import (
    Conv2D,
    ConvLSTM2D,
    LayerNorm,
    ModelSpec,
    Pool1D,
    Pool2D,
    Pool3D,
    Submodel,
    TimeDistributed,
    same_padding,
)

AVG_POOL_SAME_BUG = (
    "Keras <= 3.15 on the torch backend pads an asymmetric 'same' AveragePooling2D (or 3D) with copies of the edge "
    "cells and then divides by the whole window, padding included (fixed upstream by keras-team/keras PR #23233); "
    "TensorFlow and JAX average over the valid cells, and so does lstm2d"
)


@cache
def keras_avg_pool_same_counts_padding() -> bool:
    """Whether this Keras backend averages padded cells in an asymmetric ``same`` average pool.

    Pool (1, 3), stride (1, 2), ``same`` over the row [10, 20]: one padded cell on the right,
    so the valid-cell mean is 15; counting a padded zero gives 10, a copy of the edge cell 16.7.
    """
    import keras

    row = np.array([10.0, 20.0], dtype=np.float32).reshape(1, 1, 2, 1)
    pooled = keras.layers.AveragePooling2D(pool_size=(1, 3), strides=(1, 2), padding="same")(row)
    return not np.isclose(float(keras.ops.convert_to_numpy(pooled).reshape(-1)[0]), 15.0)


def has_asymmetric_avg_same_pool(spec: ModelSpec) -> bool:
    """Whether ``spec`` has an average pool (2D, or 3D over frames) whose ``same`` padding is asymmetric on its input
    and that Keras' torch backend gets wrong: it then pads every axis with copies of the edge cells and averages them
    too, which changes a window's average where the window holds padding and two or more real cells."""
    for entry in spec.layer_shapes():
        layer = entry.layer
        if isinstance(layer, (Pool2D, Pool3D)) and layer.mode == "avg" and layer.padding == "same":
            sizes = entry.input.dims[-3:-1] if isinstance(layer, Pool2D) else entry.input.dims[:3]
            axes = [(n, k, s) for n, k, s in zip(sizes, layer.pool_size, layer.window_strides, strict=True) if n is not None]
            asymmetric = any(before != after for before, after in (same_padding(*axis) for axis in axes))
            if asymmetric and any(_padded_window_of_several_cells(*axis) for axis in axes):
                return True
    return False


AVG_POOL1D_SAME_BUG = (
    "Keras <= 3.15 on the torch backend pads an asymmetric 'same' AveragePooling1D by repeating the edge steps and "
    "averages them in (keras/src/backend/torch/nn.py, _apply_same_padding: mode='replicate'); TensorFlow and JAX "
    "average over the valid steps, and so does lstm2d"
)


@cache
def keras_avg_pool1d_same_counts_padding() -> bool:
    """Whether this Keras backend averages padded steps in an asymmetric ``same`` AveragePooling1D: pool 3, stride 2
    over [10, 20] has one padded step at the end, so the valid-step mean is 15 (a repeated 20 makes it 16.7)."""
    import keras

    pooled = keras.layers.AveragePooling1D(pool_size=3, strides=2, padding="same")(np.array([[[10.0], [20.0]]], np.float32))
    return not np.isclose(float(keras.ops.convert_to_numpy(pooled).reshape(-1)[0]), 15.0)


def has_asymmetric_avg_same_pool1d(spec: ModelSpec) -> bool:
    """Whether ``spec`` has a 1D average pool whose ``same`` padding is asymmetric on its (fixed-length) input."""
    for entry in spec.layer_shapes():
        layer = entry.layer
        if isinstance(layer, Pool1D) and layer.mode == "avg" and layer.padding == "same" and entry.input.dims[-2]:
            before, after = same_padding(entry.input.dims[-2], *layer.pool_size, *layer.window_strides)
            if before != after:
                return True
    return False


def _padded_window_of_several_cells(size: int, kernel: int, stride: int) -> bool:
    """Whether a ``same`` window along an axis of ``size`` cells holds padding and at least two real cells."""
    before, _ = same_padding(size, kernel, stride)
    for start in range(-before, size - before, stride):
        real = min(start + kernel, size) - max(start, 0)
        if 2 <= real < kernel:
            return True
    return False


CHANNELS_FIRST_BIAS_ON_WIDTH_BUG = (
    "Keras <= 3.15 on the TensorFlow backend adds a channels_first Conv2D's bias along the width where the output "
    "width equals the number of filters: its ops.add takes a (1, filters, 1, 1) bias for tf.nn.bias_add and picks "
    "NHWC because the last axis has the bias' length (keras/src/backend/tensorflow/numpy.py, add); "
    "JAX, torch and lstm2d add it per channel"
)


@cache
def keras_add_puts_a_channels_first_bias_on_the_width() -> bool:
    """Whether this Keras backend's ``ops.add`` adds a ``(1, C, 1, 1)`` bias to ``(B, C, H, W)`` along W when W == C.

    Two channels of one 1x2 row, bias (1, 2): per channel the channels become [1, 1] and [2, 2]; along the
    width both become [1, 2].
    """
    import keras

    added = keras.ops.add(np.zeros((1, 2, 1, 2), np.float32), np.array([1.0, 2.0], np.float32).reshape(1, 2, 1, 1))
    return not np.array_equal(keras.ops.convert_to_numpy(added)[0, :, 0, 0], [1.0, 2.0])


def has_channels_first_bias_on_square_output(spec: ModelSpec) -> bool:
    """Whether ``spec``, or a model nested in it, is channels_first with a biased Conv2D (under TimeDistributed or not)
    whose output width is its number of filters."""
    if spec.data_format == "channels_first":
        for entry in spec.infer().nodes:
            conv = entry.layer.layer if isinstance(entry.layer, TimeDistributed) else entry.layer
            if isinstance(conv, Conv2D) and conv.use_bias and entry.output.width == conv.filters:
                return True
    return any(has_channels_first_bias_on_square_output(layer.spec) for layer in spec.all_layers() if isinstance(layer, Submodel))


def expected_keras_bug(spec: ModelSpec) -> str | None:
    """The reason this spec's parity is expected to fail on this Keras backend, or None."""
    if has_asymmetric_avg_same_pool(spec) and keras_avg_pool_same_counts_padding():
        return AVG_POOL_SAME_BUG
    if has_asymmetric_avg_same_pool1d(spec) and keras_avg_pool1d_same_counts_padding():
        return AVG_POOL1D_SAME_BUG
    if has_channels_first_bias_on_square_output(spec) and keras_add_puts_a_channels_first_bias_on_the_width():
        return CHANNELS_FIRST_BIAS_ON_WIDTH_BUG
    return None


CONV_CHANNELS_FIRST_EAGER_ON_CPU = (
    "TensorFlow's CPU kernels have no channels_first (NCHW) 2D convolution unless oneDNN is on (the x86 Linux "
    "default; not with TF_ENABLE_ONEDNN_OPTS=0 or builds without it), and Keras <= 3.15 passes one to it as it is, "
    "in eager calls and in predict and fit (XLA, which would work, is off on CPU-only machines): "
    "keras-team/keras#23650; lstm2d's side needs no TensorFlow"
)


@cache
def keras_eager_conv_channels_first_error() -> type[Exception] | None:
    """The error this Keras backend raises for an eager channels_first 2D convolution on this machine (None: it runs)."""
    import keras

    try:
        keras.ops.conv(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 1, 1), np.float32), data_format="channels_first")
    except Exception as exc:  # whatever the backend raises is what the test expects
        return type(exc)
    return None


LAYER_NORM_INNER_AXES_BUG = (
    "Keras <= 3.15 on the torch backend hands a LayerNormalization over contiguous axes to torch's layer_norm, which "
    "normalises the last axes of those sizes: over axes that are not the last ones it fails (other sizes) or "
    "normalises the wrong axes (the same sizes) (keras/src/ops/nn.py, _layer_normalization, is_continuous_axis); "
    "TensorFlow and JAX normalise the axes asked for, and so does lstm2d"
)


@cache
def keras_layer_norm_inner_axes_error() -> type[Exception] | None:
    """The error this Keras backend raises for LayerNormalization(axis=1) of a (1, 2, 3) tensor (None: it runs)."""
    import keras

    try:
        keras.layers.LayerNormalization(axis=1)(np.ones((1, 2, 3), np.float32))
    except Exception as exc:  # whatever the backend raises is what the test expects
        return type(exc)
    return None


def has_layer_norm_on_inner_axes(spec: ModelSpec) -> bool:
    """Whether ``spec`` normalises, with LayerNormalization (not rms_scaling), contiguous axes that are not the last
    ones (as Keras sorts the axis numbers it is given)."""
    for entry in spec.infer().nodes:
        layer = entry.layer
        if isinstance(layer, LayerNorm) and not layer.rms_scaling:
            axes, rank = sorted(layer.axis), entry.input.rank + 1  # Keras' sorted axis numbers, the rank batch included
            contiguous = all(b - a == 1 for a, b in pairwise(axes))
            if contiguous and sorted(a % rank for a in axes) != list(range(rank - len(axes), rank)):
                return True
    return False


def expect_keras_cannot_run(request: pytest.FixtureRequest, spec: ModelSpec) -> None:
    """Mark the test an expected failure (strict: it fails if Keras runs after all) where this Keras backend cannot
    run ``spec`` eagerly on this machine: channels_first Conv2D / ConvLSTM2D on TensorFlow's CPU without oneDNN, and
    LayerNormalization of inner axes on the torch backend (the parity specs give those axes other sizes than the last
    ones, so it fails rather than normalising the wrong axes)."""
    convolves = any(isinstance(layer, (Conv2D, ConvLSTM2D)) for layer in spec.layers)
    error = keras_eager_conv_channels_first_error() if spec.data_format == "channels_first" and convolves else None
    if error is not None:
        request.applymarker(pytest.mark.xfail(reason=CONV_CHANNELS_FIRST_EAGER_ON_CPU, raises=error, strict=True))
    error = keras_layer_norm_inner_axes_error() if has_layer_norm_on_inner_axes(spec) else None
    if error is not None:
        request.applymarker(pytest.mark.xfail(reason=LAYER_NORM_INNER_AXES_BUG, raises=error, strict=True))
