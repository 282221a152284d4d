"""Numpy converters: the layout rules, exact inverses, bias handling, and accounting for every tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_impl
from lstm2d.parity import random_arrays
from lstm2d.spec import LSTM, Conv2D, Dense, InputSpec, ModelSpec, Pool2D
from torch_impl.convert import WeightMismatchError, conv2d, dense, keras_to_torch, lstm, torch_to_keras, weight_table
from torch_impl.convert.layout import chw_index_of_hwc, hwc_index_of_chw

RNG = np.random.default_rng(0)


def test_conv2d_layout_rule_and_inverse():
    kernel, bias = RNG.standard_normal((3, 2, 4, 5)).astype(np.float32), RNG.standard_normal(5).astype(np.float32)
    torch_side = conv2d.keras_to_torch(kernel, bias)
    assert torch_side["weight"].shape == (5, 4, 3, 2)
    assert torch_side["weight"][4, 3, 2, 1] == kernel[2, 1, 3, 4]  # [o, c, i, j] == [i, j, c, o]
    back = conv2d.torch_to_keras(**torch_side)
    np.testing.assert_array_equal(back["kernel"], kernel)
    np.testing.assert_array_equal(back["bias"], bias)


def test_dense_layout_rule_and_inverse():
    kernel, bias = RNG.standard_normal((6, 3)).astype(np.float32), RNG.standard_normal(3).astype(np.float32)
    torch_side = dense.keras_to_torch(kernel, bias)
    assert torch_side["weight"][2, 5] == kernel[5, 2]
    back = dense.torch_to_keras(**torch_side)
    np.testing.assert_array_equal(back["kernel"], kernel)


def test_lstm_bias_goes_to_bias_ih_and_comes_back_summed():
    units, n_in = 3, 5
    kernel = RNG.standard_normal((n_in, 4 * units)).astype(np.float32)
    recurrent = RNG.standard_normal((units, 4 * units)).astype(np.float32)
    bias = RNG.standard_normal(4 * units).astype(np.float32)
    torch_side = lstm.keras_to_torch(kernel, recurrent, bias)
    np.testing.assert_array_equal(torch_side["bias_ih_l0"], bias)
    np.testing.assert_array_equal(torch_side["bias_hh_l0"], np.zeros(4 * units, np.float32))
    np.testing.assert_array_equal(torch_side["weight_ih_l0"], kernel.T)
    np.testing.assert_array_equal(torch_side["weight_hh_l0"], recurrent.T)
    back = lstm.torch_to_keras(**torch_side)
    for name, value in {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}.items():
        np.testing.assert_array_equal(back[name], value)

    torch_side["bias_hh_l0"] = RNG.standard_normal(4 * units).astype(np.float32)
    summed = lstm.torch_to_keras(**torch_side)["bias"]
    np.testing.assert_array_equal(summed, torch_side["bias_ih_l0"] + torch_side["bias_hh_l0"])


def test_lstm_input_order_permutes_kernel_rows_both_ways():
    order = RNG.permutation(6)
    kernel = RNG.standard_normal((6, 8)).astype(np.float32)
    torch_side = lstm.keras_to_torch(kernel, np.zeros((2, 8), np.float32), np.zeros(8, np.float32), input_order=order)
    np.testing.assert_array_equal(torch_side["weight_ih_l0"][:, 0], kernel[order[0]])
    np.testing.assert_array_equal(lstm.torch_to_keras(**torch_side, input_order=order)["kernel"], kernel)


@pytest.mark.parametrize(("h", "w", "c"), [(4, 3, 2), (1, 5, 3), (3, 3, 1), (2, 2, 4)])
def test_flatten_permutation(h, w, c):
    grid = RNG.standard_normal((h, w, c))
    chw = grid.transpose(2, 0, 1).reshape(-1)
    hwc = grid.reshape(-1)
    np.testing.assert_array_equal(hwc[hwc_index_of_chw(h, w, c)], chw)
    np.testing.assert_array_equal(chw[chw_index_of_hwc(h, w, c)], hwc)


# -- an independent Keras-layout forward pass in numpy -------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def keras_forward_numpy(spec: ModelSpec, weights: dict, x: np.ndarray) -> np.ndarray:
    """Keras semantics in Keras layout, by hand: NHWC frames, TF same padding, (H, W, C) flatten, gates i, f, c, o."""
    b, t = x.shape[:2]
    frames = x.reshape(b * t, *x.shape[2:]).astype(np.float64)  # (N, H, W, C)
    for layer in spec.frontend:
        kh, kw = layer.kernel_size if isinstance(layer, Conv2D) else layer.pool_size
        sh, sw = layer.strides
        n, h, w, c = frames.shape
        if layer.padding == "same":
            oh, ow = -(-h // sh), -(-w // sw)
            ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - w, 0)
            top, left = ph // 2, pw // 2
        else:
            oh, ow, top, left = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0
        out = np.zeros((n, oh, ow, layer.filters if isinstance(layer, Conv2D) else c))
        for i in range(oh):
            for j in range(ow):
                r0, c0 = i * sh - top, j * sw - left
                if isinstance(layer, Conv2D):
                    for di in range(kh):
                        for dj in range(kw):
                            r, cc = r0 + di, c0 + dj
                            if 0 <= r < h and 0 <= cc < w:
                                out[:, i, j] += frames[:, r, cc] @ weights[layer.name]["kernel"][di, dj]
                else:
                    window = frames[:, max(r0, 0) : r0 + kh, max(c0, 0) : c0 + kw]
                    out[:, i, j] = window.max(axis=(1, 2)) if layer.mode == "max" else window.mean(axis=(1, 2))
        if isinstance(layer, Conv2D):
            out = out + weights[layer.name]["bias"]
            out = np.maximum(out, 0) if layer.activation == "relu" else out
        frames = out
    seq = frames.reshape(b, t, -1)  # (H, W, C) flatten, as Keras does
    for layer in spec.recurrent:
        kernel, recurrent, bias = (weights[layer.name][k] for k in ("kernel", "recurrent_kernel", "bias"))
        h_t = np.zeros((b, layer.units))
        c_t = np.zeros((b, layer.units))
        outputs = []
        for step in range(t):
            z = seq[:, step] @ kernel + h_t @ recurrent + bias
            zi, zf, zc, zo = np.split(z, 4, axis=1)
            c_t = _sigmoid(zf) * c_t + _sigmoid(zi) * np.tanh(zc)
            h_t = _sigmoid(zo) * np.tanh(c_t)
            outputs.append(h_t)
        seq = np.stack(outputs, axis=1)
    out = seq if spec.returns_sequences else seq[:, -1]
    for layer in spec.head:
        out = out @ weights[layer.name]["kernel"] + weights[layer.name]["bias"]
    return out


SMALL_SPECS = [
    ModelSpec(  # C > 1 at the flatten, H != W: the permutation matters
        InputSpec(3, height=9, width=7, channels=2),
        frontend=(Conv2D(3, (3, 2), padding="same", activation="relu"), Pool2D("avg", 2, padding="same")),
        recurrent=(LSTM(4),),
        head=(Dense(2),),
    ),
    ModelSpec(InputSpec(4, height=3, width=5, channels=3), recurrent=(LSTM(3, return_sequences=True),), head=(Dense(2),)),
    ModelSpec(
        InputSpec(3, height=8, width=6, channels=1),
        frontend=(Conv2D(2, 3, strides=2, padding="same"), Pool2D("max", (2, 1))),
        recurrent=(LSTM(3, return_sequences=True), LSTM(2)),
        head=(Dense(1),),
    ),
]


@pytest.mark.parametrize("spec", SMALL_SPECS, ids=["conv-avg-same", "flatten-sequences", "strided-stacked"])
def test_converted_torch_model_computes_keras_semantics(spec):
    """Keras weights -> torch, against a by-hand Keras forward pass: the layout rules hold without Keras."""
    rng = np.random.default_rng(3)
    weights = {e.name: random_arrays(e.keras_shapes, rng, layout="keras") for e in weight_table(spec)}
    model = torch_impl.build_model(spec, input_layout="channels_last").eval()
    torch_impl.load_keras_weights(model, weights)
    x = rng.standard_normal((2, spec.input.timesteps, spec.input.height, spec.input.width, spec.input.channels)).astype(
        np.float32
    )
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, keras_forward_numpy(spec, weights, x), rtol=0, atol=1e-5)


# -- accounting -------------------------------------------------------------------------------

SPEC = SMALL_SPECS[0]


def _keras_weights() -> dict:
    rng = np.random.default_rng(4)
    return {e.name: random_arrays(e.keras_shapes, rng, layout="keras") for e in weight_table(SPEC)}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda w: w.pop("lstm_1"), r"missing Keras weights for layer 'lstm_1' \(lstm\): expected kernel \(60, 16\)"),
        (lambda w: w["lstm_1"].pop("recurrent_kernel"), r"'lstm_1' \(lstm\).*missing \['recurrent_kernel'\]"),
        (lambda w: w["dense_1"].update(gamma=np.ones(2, np.float32)), r"'dense_1' \(dense\).*unexpected \['gamma'\]"),
        (lambda w: w.update(dense_9={"kernel": np.ones((2, 2), np.float32)}), r"layers the spec does not have .*\['dense_9'\]"),
        (
            lambda w: w["conv2d_1"].update(kernel=np.ones((3, 3, 2, 3), np.float32)),
            r"'conv2d_1'.*'kernel' has shape \(3, 3, 2, 3\), expected \(3, 2, 2, 3\)",
        ),
        (
            lambda w: w["dense_1"].update(bias=np.ones(2, np.int64)),
            r"'dense_1'.*'bias' has dtype int64, expected a floating-point dtype",
        ),
    ],
)
def test_keras_to_torch_names_every_mismatch(mutate, message):
    weights = _keras_weights()
    mutate(weights)
    with pytest.raises(WeightMismatchError, match=message):
        keras_to_torch(SPEC, weights)


def test_layers_without_weights_may_appear_empty():
    weights = _keras_weights()
    weights["pool2d_1"] = {}
    assert set(keras_to_torch(SPEC, weights)) == set(torch_impl.build_model(SPEC).state_dict())


def test_torch_to_keras_names_missing_and_extra_keys():
    state = keras_to_torch(SPEC, _keras_weights())
    extra = {**state, "recurrent.lstm_1.weight_ih_l1": np.zeros((16, 4), np.float32)}
    with pytest.raises(WeightMismatchError, match=r"does not account for: \['recurrent.lstm_1.weight_ih_l1'\]"):
        torch_to_keras(SPEC, extra)
    missing = {k: v for k, v in state.items() if k != "head.dense_1.bias"}
    with pytest.raises(
        WeightMismatchError, match=r"missing torch tensors for layer 'dense_1' \(dense\): \['head.dense_1.bias'\]"
    ):
        torch_to_keras(SPEC, missing)


def test_load_state_checks_keys_and_shapes():
    model = torch_impl.build_model(SPEC)
    state = keras_to_torch(SPEC, _keras_weights())
    with pytest.raises(WeightMismatchError, match=r"head.dense_1.weight: shape \(4, 2\), expected \(2, 4\)"):
        torch_impl.load_state(model, {**state, "head.dense_1.weight": np.zeros((4, 2), np.float32)})
    with pytest.raises(WeightMismatchError, match=r"missing \['head.dense_1.bias'\]"):
        torch_impl.load_state(model, {k: v for k, v in state.items() if k != "head.dense_1.bias"})
