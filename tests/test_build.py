"""build_model: Keras' default initial weights (glorot_uniform, orthogonal, zeros, unit forget bias), or torch's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torch_impl
from lstm2d.presets import get_preset
from lstm2d.spec import (
    GRU,
    LSTM,
    BatchNorm,
    Bidirectional,
    ConvLSTM2D,
    Dense,
    Flatten,
    GroupNorm,
    InputSpec,
    LayerNorm,
    ModelSpec,
    Normalization,
    PReLU,
    RMSNorm,
)
from torch_impl.build import glorot_uniform, keras_initial_weights, orthogonal

SPEC = ModelSpec(
    InputSpec.frames(3, 6, 5, 2),
    layers=(
        ConvLSTM2D(4, 3, padding="same", return_sequences=True), BatchNorm(), Flatten(), Dense(32),
        LSTM(8, return_sequences=True), Bidirectional(GRU(6)), Dense(1),
    ),
)  # fmt: skip


def test_glorot_uniform_bounds_and_spread_follow_keras_fans():
    rng = np.random.default_rng(0)
    kernel = glorot_uniform((3, 3, 16, 32), rng)  # fan_in 144, fan_out 288
    limit = math.sqrt(6 / (144 + 288))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    assert kernel.std() == pytest.approx(limit / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("shape", [(8, 32), (32, 8), (3, 3, 4, 16)])
def test_orthogonal_has_orthonormal_rows_or_columns(shape):
    flat = orthogonal(shape, np.random.default_rng(1)).reshape(-1, shape[-1])
    gram = flat @ flat.T if flat.shape[0] < flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-5)


def test_keras_init_of_every_layer_kind():
    weights = keras_initial_weights(SPEC, np.random.default_rng(2))
    lstm_bias = weights["lstm_1"]["bias"]
    np.testing.assert_array_equal(lstm_bias, np.repeat([0.0, 1.0, 0.0, 0.0], 8))  # i, f, c, o: forget gate 1
    np.testing.assert_array_equal(weights["conv_lstm2d_1"]["bias"], np.repeat([0.0, 1.0, 0.0, 0.0], 4))
    np.testing.assert_array_equal(weights["bidirectional_1"]["forward/bias"], np.zeros((2, 18)))  # GRU: no forget gate
    assert set(weights["batch_norm_1"]) == {"gamma", "beta", "moving_mean", "moving_variance"}
    np.testing.assert_array_equal(weights["batch_norm_1"]["moving_variance"], np.ones(4))
    assert not np.array_equal(weights["bidirectional_1"]["forward/kernel"], weights["bidirectional_1"]["backward/kernel"])


def test_keras_init_of_the_normalisation_and_activation_weights():
    """Keras' initializers (keras/src/layers/...): LayerNormalization and GroupNormalization gamma ones, beta zeros;
    RMSNormalization scale ones; PReLU alpha zeros; an adapted Normalization mean zeros, variance ones, count 0."""
    spec = ModelSpec(
        InputSpec.sequence(4, 6),
        (LayerNorm(name="ln"), GroupNorm(3, name="gn"), RMSNorm(name="rms"), PReLU(name="p"), Normalization(name="n")),
    )
    weights = keras_initial_weights(spec, np.random.default_rng(0))
    ones, zeros = np.ones(6, np.float32), np.zeros(6, np.float32)
    for layer in ("ln", "gn"):
        np.testing.assert_array_equal(weights[layer]["gamma"], ones)
        np.testing.assert_array_equal(weights[layer]["beta"], zeros)
    np.testing.assert_array_equal(weights["rms"]["scale"], ones)
    np.testing.assert_array_equal(weights["p"]["alpha"], np.zeros((4, 6), np.float32))
    np.testing.assert_array_equal(weights["n"]["mean"], zeros)
    np.testing.assert_array_equal(weights["n"]["variance"], ones)
    assert weights["n"]["count"] == 0


def test_unit_forget_bias_off_gives_zero_biases():
    spec = ModelSpec(InputSpec.frames(2, 2, 2, 1), layers=(Flatten(), LSTM(3, unit_forget_bias=False)))
    np.testing.assert_array_equal(keras_initial_weights(spec, np.random.default_rng(0))["lstm_1"]["bias"], np.zeros(12))


def test_build_model_initialises_like_keras_reproducibly():
    spec = get_preset("seed-cnn")
    torch.manual_seed(5)
    first = torch_impl.build_model(spec)
    torch.manual_seed(5)
    second = torch_impl.build_model(spec)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    state = first.state_dict()
    np.testing.assert_array_equal(state["layers.lstm_1.bias_ih_l0"].numpy(), np.repeat([0.0, 1.0, 0.0, 0.0], 64))
    assert not state["layers.lstm_1.bias_hh_l0"].any() and not state["layers.conv2d_1.bias"].any()
    recurrent = state["layers.lstm_1.weight_hh_l0"].numpy()  # (4U, U): Keras' (U, 4U) orthogonal, transposed
    np.testing.assert_allclose(recurrent.T @ recurrent, np.eye(64), atol=1e-5)


def test_torch_init_keeps_torch_defaults():
    torch.manual_seed(0)
    model = torch_impl.build_model(get_preset("seed-flat"), init="torch")
    assert model.state_dict()["layers.lstm_1.bias_hh_l0"].abs().sum() > 0  # torch draws both LSTM biases
    with pytest.raises(ValueError, match=r"init: expected 'keras' or 'torch', got 'xavier'"):
        torch_impl.build_model(get_preset("seed-flat"), init="xavier")
