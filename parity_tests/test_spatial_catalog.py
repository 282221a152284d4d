"""The 2D and 3D spatial layers against Keras beyond the catalog specs (``SPATIAL_CATALOG_SPECS``, which the layer,
gradient and file tests run): what Keras' own layers draw as initial weights and drop in training, and, with ``-m
deep``, every option of the transposed convolutions, bilinear upsampling and 3D pooling, one layer at a time."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_ref.model import build_model, construct
from lstm2d.model_summary import graph_summary, parameter_counts
from lstm2d.parity import check_spec
from lstm2d.spec import (
    Conv2DTranspose,
    Conv3DTranspose,
    InputSpec,
    ModelSpec,
    Pool3D,
    SeparableConv2D,
    SpatialDropout2D,
    SpatialDropout3D,
    UpSampling2D,
    transpose_output_size,
)
from lstm2d.spec.keras_graph import layer_config
from parity_tests.known_issues import expected_keras_bug
from parity_tests.specs import SPATIAL_CATALOG_SPECS
from torch_impl.build import glorot_uniform

BACKEND = keras.backend.backend()


def test_keras_initial_kernels_have_the_fans_lstm2d_draws_with():
    """Keras' DepthwiseConv2D, SeparableConv2D and Conv2DTranspose kernels are glorot_uniform over their own shapes, as
    lstm2d draws them (``torch_impl.build``): the largest of some hundreds of draws is within 5% of the bound
    sqrt(6 / (fan_in + fan_out)) either way (missing it by more than 5% has odds under 1e-6), so fans that differ by a
    factor of two or more show; biases are zeros."""
    keras.utils.set_random_seed(0)
    layers = {
        "depthwise": keras.layers.DepthwiseConv2D(3, depth_multiplier=4),
        "separable": keras.layers.SeparableConv2D(16, 3, depth_multiplier=2),
        "transposed": keras.layers.Conv2DTranspose(12, 2),
    }
    for name, layer in layers.items():
        layer.build((None, 6, 5, 8))
        for variable in layer.weights:
            theirs = keras.ops.convert_to_numpy(variable)
            if not variable.name.endswith("kernel"):
                assert not theirs.any(), (name, variable.name)
                continue
            ours = glorot_uniform(tuple(variable.shape), np.random.default_rng(0))
            assert np.abs(theirs).max() == pytest.approx(np.abs(ours).max(), rel=0.05), (name, variable.name)


@pytest.mark.parametrize("spec", SPATIAL_CATALOG_SPECS, ids=lambda spec: spec.name)
def test_inspect_counts_the_parameters_keras_counts(spec):
    """``lstm2d inspect`` shows every layer and counts its parameters as Keras does: depthwise kernels
    ``(kh, kw, C_in, depth_multiplier)``, separable ones with their pointwise ``(1, 1, C_in * depth_multiplier,
    filters)``, transposed ones ``(k..., filters, C_in)``, BatchNormalization's moving statistics."""
    keras_model = build_model(spec)
    theirs = {layer.name: layer.count_params() for layer in keras_model.layers if layer.count_params()}
    assert parameter_counts(spec) == theirs
    text = "\n".join(graph_summary(spec))
    assert all(layer.describe() in text for layer in spec.layers)
    assert f"total parameters: {keras_model.count_params():,}" in text


@pytest.mark.parametrize("layer", [SpatialDropout2D(0.5), SpatialDropout3D(0.5)], ids=lambda layer: layer.kind)
def test_keras_spatial_dropout_drops_what_lstm2d_drops(layer):
    """In training, Keras' SpatialDropout2D in TimeDistributed drops whole channels of each frame (a mask per frame), and
    SpatialDropout3D whole channels of the whole clip: the noise lstm2d's torch module draws."""
    shape = (16, 3, 4, 5, 6)  # (B, T, H, W, C)
    keras_layer = construct(layer_config(layer, "drop", InputSpec.frames(*shape[1:]).per_sample, "channels_last"))
    x = np.random.default_rng(0).uniform(1.0, 2.0, shape).astype(np.float32)
    out = keras.ops.convert_to_numpy(keras_layer(x, training=True))
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2.0 * x[kept], rtol=1e-6)
    per_map = kept.transpose(0, 1, 4, 2, 3).reshape(16, 3, 6, -1)  # (B, T, C, H*W)
    assert (per_map.all(-1) == per_map.any(-1)).all()  # a channel of a frame whole
    per_frame = per_map.any(-1)
    assert (per_frame.all(1) == per_frame.any(1)).all() == isinstance(layer, SpatialDropout3D)


# -- every option, one layer at a time (deep) ------------------------------------------------------------------------


def _single(name: str, input: InputSpec, layer) -> ModelSpec:
    return ModelSpec(input, (layer,), name=name)


def _tensorflow_runs(padding: str, kernel: int, dilation: int, output_padding: int | None) -> bool:
    """TensorFlow computes a transposed convolution as the gradient of the convolution of its output: with 'same' and an
    output_padding, Keras' output size must give back the input size (not for an even kernel and output_padding 0)."""
    return not (padding == "same" and output_padding == 0 and ((kernel - 1) * dilation + 1) % 2 == 0)


TRANSPOSE_OPTIONS = [
    (kernel, stride, padding, output_padding, 1)
    for padding in ("valid", "same")
    for kernel in (1, 2, 3, 4)
    for stride in (1, 2, 3)
    for output_padding in (None, *range(stride))
] + [(kernel, 1, padding, None, dilation) for padding in ("valid", "same") for kernel in (2, 3) for dilation in (2, 3)]


@pytest.mark.deep
@pytest.mark.parametrize(("kernel", "stride", "padding", "output_padding", "dilation"), TRANSPOSE_OPTIONS)
def test_conv_transpose_options_match_keras(kernel, stride, padding, output_padding, dilation):
    width_kernel, width_padding = max(kernel - 1, 1), None if output_padding is None else 0  # H != W, (kernel - 1) wide
    runs = _tensorflow_runs(padding, kernel, dilation, output_padding) and _tensorflow_runs(
        padding, width_kernel, 1, width_padding
    )
    if BACKEND == "tensorflow" and not runs:
        pytest.skip("TensorFlow cannot compute this size (see _tensorflow_runs); JAX and torch run it")
    layer = Conv2DTranspose(
        3, (kernel, width_kernel), strides=(stride, 1), padding=padding, dilation_rate=(dilation, 1),
        output_padding=None if output_padding is None else (output_padding, width_padding), activation="tanh",
    )  # fmt: skip
    name = f"transpose-{padding}-k{kernel}-s{stride}-op{output_padding}-d{dilation}"
    spec = _single(name, InputSpec.frames(2, 5, 4, 2), layer)
    assert spec.output_shapes()[0].height == transpose_output_size(5, kernel, stride, padding, output_padding, dilation)
    report = check_spec(spec, "keras_to_torch", seed=3, batch=2)
    assert report.ok, report.table()


@pytest.mark.deep
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    ("kernel", "strides", "output_padding"), [((2, 3, 2), (2, 1, 2), (1, 0, 1)), ((3, 2, 3), (1, 2, 2), None)]
)
def test_conv3d_transpose_options_match_keras(padding, kernel, strides, output_padding):
    layer = Conv3DTranspose(2, kernel, strides=strides, padding=padding, output_padding=output_padding, activation="relu")
    spec = _single(f"transpose3d-{padding}-{kernel}", InputSpec.frames(3, 4, 5, 2), layer)
    report = check_spec(spec, "keras_to_torch", seed=3, batch=2)
    assert report.ok, report.table()


@pytest.mark.deep
@pytest.mark.parametrize("size", [(1, 2), (2, 2), (3, 3), (2, 5), (4, 1)])
@pytest.mark.parametrize("grid", [(5, 3), (2, 7)])
def test_bilinear_upsampling_matches_keras(size, grid):
    spec = _single(f"bilinear-{size}-{grid}", InputSpec.frames(2, *grid, 3), UpSampling2D(size, "bilinear"))
    report = check_spec(spec, "keras_to_torch", seed=3, batch=2)
    assert report.ok, report.table()


@pytest.mark.deep
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [None, 1, (2, 1, 2)])
@pytest.mark.parametrize("pool", [(1, 2, 2), (2, 2, 2), (3, 2, 1), (2, 3, 3)])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool3d_options_match_keras(mode, pool, strides, padding):
    spec = _single(
        f"pool3d-{mode}-{pool}-{strides}-{padding}", InputSpec.frames(5, 7, 6, 2), Pool3D(mode, pool, strides, padding)
    )
    report = check_spec(spec, "keras_to_torch", seed=3, batch=2)
    known_bug = expected_keras_bug(spec)
    if known_bug:
        assert not report.ok, f"expected this Keras backend to differ ({known_bug}), but it matches: drop the workaround"
        pytest.xfail(known_bug)
    assert report.ok, report.table()


@pytest.mark.deep
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 1)])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 2), (1, 3)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_separable_strides_and_dilation_match_keras(strides, dilation, padding):
    spec = _single(
        f"separable-{strides}-{dilation}-{padding}",
        InputSpec.frames(2, 9, 10, 3),
        SeparableConv2D(4, (3, 2), strides=strides, padding=padding, depth_multiplier=2, dilation_rate=dilation),
    )
    report = check_spec(spec, "keras_to_torch", seed=3, batch=2)
    assert report.ok, report.table()


def test_transposed_sizes_are_keras_own():
    """lstm2d's output-size rule is Keras' (its compute_output_shape) for every option the deep matrix runs."""
    from keras.src.backend.common.backend_utils import compute_conv_transpose_output_shape

    for kernel, stride, padding, output_padding, dilation in TRANSPOSE_OPTIONS:
        theirs = compute_conv_transpose_output_shape(
            (None, 5, 1), (kernel,), 3, (stride,), padding, None if output_padding is None else (output_padding,),
            dilation_rate=(dilation,),
        )  # fmt: skip
        assert theirs[1] == transpose_output_size(5, kernel, stride, padding, output_padding, dilation)
