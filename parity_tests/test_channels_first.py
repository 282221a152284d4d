"""Channels-first Keras models against lstm2d on this process' Keras backend.

The harness' own matrix (``test_layer_parity``, ``test_roundtrip``, ``test_keras_files``) runs
``CHANNELS_FIRST_SPECS`` in both directions and through files; here: what that matrix cannot show.
The flatten order is a real choice (the wrong one fails), files written by Keras users (a global
``image_data_format``, a Reshape as the flatten) read into torch, and gradients. Where Keras itself cannot
run channels_first convolutions (TensorFlow's CPU without oneDNN), the cases are expected failures: ``known_issues``.
"""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest
import torch

import keras_ref
import torch_impl
from lstm2d.parity import assert_parity, build_pair, check_gradients, keras_outputs, random_inputs
from lstm2d.spec import Flatten, ModelSpec
from lstm2d.tolerances import FP32_CPU_FORWARD_ATOL
from parity_tests.known_issues import expect_keras_cannot_run
from parity_tests.specs import CHANNELS_FIRST_SPECS
from torch_impl.files import from_keras

SPECS = {spec.name.removeprefix("channels_first-"): spec for spec in CHANNELS_FIRST_SPECS}


def _with_flatten(spec: ModelSpec, data_format: str) -> ModelSpec:
    layers = tuple(replace(layer, data_format=data_format) if isinstance(layer, Flatten) else layer for layer in spec.layers)
    return ModelSpec(spec.input, layers, name=spec.name, data_format=spec.data_format)


@pytest.mark.parametrize(("name", "other"), [("cnn-flatten-chw", "channels_first"), ("cnn-flatten-hwc", "channels_last")])
def test_the_other_flatten_order_fails(request, name, other):
    """Negative control: Keras' weights converted as if its Flatten had the other data_format."""
    spec = SPECS[name]
    expect_keras_cannot_run(request, spec)
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=41)
    assert keras_model.input_shape == (None, *spec.keras_input_shape)
    x = random_inputs(spec, np.random.default_rng(42), batch=3)
    assert_parity(keras_model, torch_model, x, label=name)
    wrong = torch_impl.build_model(_with_flatten(spec, other)).eval()
    torch_impl.load_keras_weights(wrong, keras_ref.get_weights(keras_model, spec))
    with pytest.raises(AssertionError, match="parity over tolerance"):
        assert_parity(keras_model, wrong, x, label=f"{name} read as {other}")


def _random_weights(model: keras.Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-0.5, 0.5, v.shape).astype("float32") for v in model.weights]
    model.set_weights([np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, model.weights, strict=True)])


def _global_format_model() -> keras.Model:
    """Built under ``image_data_format = "channels_first"``, as a keras.json of that setting makes every model."""
    layers = keras.layers
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        return keras.Sequential(
            [
                keras.Input((4, 3, 9, 6)),  # (time, channels, height, width)
                layers.TimeDistributed(layers.Conv2D(4, 3, padding="same", activation="relu"), name="conv"),
                layers.TimeDistributed(layers.BatchNormalization(axis=1), name="bn"),
                layers.TimeDistributed(layers.MaxPooling2D(2), name="pool"),
                layers.TimeDistributed(layers.Flatten(), name="flat"),  # channels_first too: (H, W, C) order
                layers.LSTM(5, name="enc"),
                layers.Dense(2, name="head"),
            ]
        )
    finally:
        keras.config.set_image_data_format(previous)


def _reshape_model() -> keras.Model:
    """Functional, channels_first given per layer; a Reshape flattens each frame in its own (C, H, W) order."""
    layers = keras.layers
    inputs = keras.Input((4, 2, 6, 5))
    x = layers.ConvLSTM2D(3, 3, padding="same", data_format="channels_first", return_sequences=True, name="clstm")(inputs)
    x = layers.BatchNormalization(axis=2, name="bn")(x)
    x = layers.Reshape((4, 3 * 6 * 5), name="flat")(x)
    x = layers.GRU(4, name="gru")(x)
    return keras.Model(inputs, layers.Dense(1, name="head")(x))


@pytest.mark.parametrize(
    ("make", "order"), [(_global_format_model, "hwc"), (_reshape_model, "chw")], ids=["image-data-format", "reshape"]
)
def test_users_channels_first_files_read_into_torch(request, tmp_path, make, order):
    model = make()
    _random_weights(model, seed=43)
    model.save(tmp_path / "m.keras")
    torch_model = from_keras(tmp_path / "m.keras").eval()
    spec = torch_model.spec
    expect_keras_cannot_run(request, spec)
    assert spec.data_format == "channels_first"
    flattens = [node for node in torch_model.plan.nodes if node.shapes.layer.kind in ("flatten", "reshape")]
    permuted = [node.layouts.outputs[0].order is not None for node in flattens]  # torch flattens (C, H, W)
    assert permuted == [order == "hwc"]
    x = np.random.default_rng(44).standard_normal((3, *model.input_shape[1:])).astype(np.float32)
    (expected,) = keras_outputs(model, x).values()
    with torch.no_grad():
        got = torch_model(torch.from_numpy(x)).numpy()  # the Keras model's layout is the torch model's own
    error = float(np.abs(got - expected).max())
    print(f"{make.__name__}: max abs error {error:.2e}")
    assert error <= FP32_CPU_FORWARD_ATOL  # on the torch backend, the same kernels: often exactly 0


@pytest.mark.usefixtures("single_torch_thread")
@pytest.mark.parametrize("name", ["cnn-flatten-hwc", "conv-lstm-batch-norm"])
def test_gradients_match(request, name):
    expect_keras_cannot_run(request, SPECS[name])
    report = check_gradients(SPECS[name], "keras_to_torch", seed=45, batch=2)
    assert report.ok, report.table()
    assert not report.uninformative, report.table()
