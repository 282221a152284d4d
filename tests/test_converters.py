"""Numpy converters: the layout rules, exact inverses, bias handling, and accounting for every tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torch_impl
from lstm2d.parity import random_arrays
from lstm2d.spec import (
    GRU,
    LSTM,
    BatchNorm,
    Bidirectional,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv3D,
    ConvLSTM1D,
    ConvLSTM2D,
    Dense,
    Dropout,
    Flatten,
    Frames,
    InputSpec,
    ModelSpec,
    Normalization,
    Pool2D,
    SimpleRNN,
    Steps,
)
from torch_impl.convert import axes, batch_norm, conv, conv1d, conv_lstm, dense, depthwise, recurrent
from torch_impl.convert.layout import hwc_index_of_chw, rows_from_keras, rows_to_keras
from torch_impl.layers.axes import AxesWeight
from torch_impl.layout import CHANNELS_FIRST, KERAS, FeatureOrder, TensorLayout
from torch_impl.weight_table import WeightMismatchError, keras_gradients_to_torch, keras_to_torch, torch_to_keras, weight_table

RNG = np.random.default_rng(0)


def _random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def test_conv2d_layout_rule_and_inverse():
    kernel, bias = _random(3, 2, 4, 5), _random(5)
    torch_side = conv.keras_to_torch(kernel, bias)
    assert torch_side["weight"].shape == (5, 4, 3, 2)
    assert torch_side["weight"][4, 3, 2, 1] == kernel[2, 1, 3, 4]  # [o, c, i, j] == [i, j, c, o]
    back = conv.torch_to_keras(**torch_side)
    np.testing.assert_array_equal(back["kernel"], kernel)
    np.testing.assert_array_equal(back["bias"], bias)


def test_conv3d_layout_rule_and_inverse():
    kernel = _random(2, 3, 4, 5, 6)  # (kt, kh, kw, in, out)
    torch_side = conv.keras_to_torch(kernel)
    assert torch_side["weight"].shape == (6, 5, 2, 3, 4) and "bias" not in torch_side
    assert torch_side["weight"][5, 4, 1, 2, 3] == kernel[1, 2, 3, 4, 5]
    np.testing.assert_array_equal(conv.torch_to_keras(**torch_side)["kernel"], kernel)


def test_conv_transpose_layout_rule_and_inverse():
    kernel, bias = _random(3, 2, 4, 5), _random(4)  # (kh, kw, filters, in)
    torch_side = conv.keras_to_torch(kernel, bias)
    assert torch_side["weight"].shape == (5, 4, 3, 2)  # nn.ConvTranspose2d: (in, filters, kh, kw)
    assert torch_side["weight"][4, 3, 2, 1] == kernel[2, 1, 3, 4]
    np.testing.assert_array_equal(conv.torch_to_keras(**torch_side)["kernel"], kernel)
    # No flip: a single 1 in input channel c comes out as the kernel's (kh, kw, :, c) slice, as in Keras, where every
    # input cell adds kernel * value into its output window.
    one = torch.zeros(1, 5, 1, 1)
    one[0, 3] = 1.0
    out = F.conv_transpose2d(one, torch.from_numpy(torch_side["weight"]))
    np.testing.assert_array_equal(out[0].numpy(), kernel[:, :, :, 3].transpose(2, 0, 1))


def test_depthwise_layout_rule_and_inverse():
    kernel, bias = _random(3, 2, 4, 2), _random(8)  # (kh, kw, in, depth multiplier)
    torch_side = depthwise.keras_to_torch(kernel, bias)
    assert torch_side["weight"].shape == (8, 1, 3, 2)  # grouped nn.Conv2d: (in * multiplier, 1, kh, kw)
    assert torch_side["weight"][3 * 2 + 1, 0, 2, 1] == kernel[2, 1, 3, 1]  # output channel c * m + k: filter k of c
    back = depthwise.torch_to_keras(**torch_side, depth_multiplier=2)
    np.testing.assert_array_equal(back["kernel"], kernel)
    np.testing.assert_array_equal(back["bias"], bias)
    x = _random(1, 4, 5, 4)
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(torch_side["weight"]), groups=4).numpy()
    expected = sum(x[0, 3, i : i + 3, j : j + 3] * kernel[i, j, 3, 1] for i in range(3) for j in range(2))  # channel 3
    np.testing.assert_allclose(out[0, 3 * 2 + 1], expected, rtol=0, atol=1e-5)


def test_separable_layout_rule_and_inverse():
    depthwise_kernel, pointwise_kernel, bias = _random(3, 3, 2, 3), _random(1, 1, 6, 4), _random(4)
    torch_side = depthwise.separable_to_torch(depthwise_kernel, pointwise_kernel, bias)
    assert {key: value.shape for key, value in torch_side.items()} == {
        "depthwise.weight": (6, 1, 3, 3), "pointwise.weight": (4, 6, 1, 1), "pointwise.bias": (4,),
    }  # fmt: skip
    back = depthwise.separable_to_keras(**torch_side, depth_multiplier=3)
    for name, value in {"depthwise_kernel": depthwise_kernel, "pointwise_kernel": pointwise_kernel, "bias": bias}.items():
        np.testing.assert_array_equal(back[name], value)
    assert "bias" not in depthwise.separable_to_keras(
        **depthwise.separable_to_torch(depthwise_kernel, pointwise_kernel), depth_multiplier=3
    )


def test_conv_lstm_layout_rule_and_inverse():
    kernel, recurrent_kernel, bias = _random(3, 2, 4, 12), _random(3, 2, 3, 12), _random(12)
    torch_side = conv_lstm.keras_to_torch(kernel, recurrent_kernel, bias)
    assert torch_side["weight_ih"][11, 3, 2, 1] == kernel[2, 1, 3, 11]
    assert torch_side["weight_hh"][11, 2, 2, 1] == recurrent_kernel[2, 1, 2, 11]
    back = conv_lstm.torch_to_keras(**torch_side)
    for name, value in {"kernel": kernel, "recurrent_kernel": recurrent_kernel, "bias": bias}.items():
        np.testing.assert_array_equal(back[name], value)


def test_dense_layout_rule_and_inverse():
    kernel, bias = _random(6, 3), _random(3)
    torch_side = dense.keras_to_torch(kernel, bias)
    assert torch_side["weight"][2, 5] == kernel[5, 2]
    back = dense.torch_to_keras(**torch_side)
    np.testing.assert_array_equal(back["kernel"], kernel)
    assert "bias" not in dense.keras_to_torch(kernel)


def test_lstm_bias_goes_to_bias_ih_and_comes_back_summed():
    units, n_in = 3, 5
    kernel, recurrent_kernel, bias = _random(n_in, 4 * units), _random(units, 4 * units), _random(4 * units)
    torch_side = recurrent.keras_to_torch(kernel, recurrent_kernel, bias, kind="lstm")
    np.testing.assert_array_equal(torch_side["bias_ih_l0"], bias)
    np.testing.assert_array_equal(torch_side["bias_hh_l0"], np.zeros(4 * units, np.float32))
    np.testing.assert_array_equal(torch_side["weight_ih_l0"], kernel.T)
    np.testing.assert_array_equal(torch_side["weight_hh_l0"], recurrent_kernel.T)
    back = recurrent.torch_to_keras(**torch_side, kind="lstm")
    for name, value in {"kernel": kernel, "recurrent_kernel": recurrent_kernel, "bias": bias}.items():
        np.testing.assert_array_equal(back[name], value)

    torch_side["bias_hh_l0"] = _random(4 * units)
    summed = recurrent.torch_to_keras(**torch_side, kind="lstm")["bias"]
    np.testing.assert_array_equal(summed, torch_side["bias_ih_l0"] + torch_side["bias_hh_l0"])


def test_gru_gate_blocks_are_reordered_and_reset_after_keeps_both_biases():
    units, n_in = 2, 3
    kernel, recurrent_kernel, bias = _random(n_in, 3 * units), _random(units, 3 * units), _random(2, 3 * units)
    torch_side = recurrent.keras_to_torch(kernel, recurrent_kernel, bias, kind="gru")
    z, r, h = np.split(kernel, 3, axis=1)  # Keras: z, r, h
    np.testing.assert_array_equal(torch_side["weight_ih_l0"], np.concatenate([r, z, h], axis=1).T)  # torch: r, z, n
    np.testing.assert_array_equal(
        torch_side["bias_hh_l0"], np.concatenate([*np.split(bias[1], 3)[1::-1], np.split(bias[1], 3)[2]])
    )
    back = recurrent.torch_to_keras(**torch_side, kind="gru", split_bias=True)
    for name, value in {"kernel": kernel, "recurrent_kernel": recurrent_kernel, "bias": bias}.items():
        np.testing.assert_array_equal(back[name], value)


def test_recurrent_input_order_permutes_kernel_rows_both_ways():
    order = RNG.permutation(6)
    kernel = _random(6, 8)
    torch_side = recurrent.keras_to_torch(kernel, _random(2, 8), _random(8), kind="lstm", input_order=order)
    np.testing.assert_array_equal(torch_side["weight_ih_l0"][:, 0], kernel[order[0]])
    np.testing.assert_array_equal(recurrent.torch_to_keras(**torch_side, kind="lstm", input_order=order)["kernel"], kernel)


def test_batch_norm_names_and_input_order():
    order = RNG.permutation(4)
    keras_side = {name: _random(4) for name in ("gamma", "beta", "moving_mean", "moving_variance")}
    torch_side = batch_norm.keras_to_torch(**keras_side, input_order=order)
    assert sorted(torch_side) == ["bias", "running_mean", "running_var", "weight"]
    np.testing.assert_array_equal(torch_side["running_var"], keras_side["moving_variance"][order])
    back = batch_norm.torch_to_keras(**torch_side, input_order=order)
    for name, value in keras_side.items():
        np.testing.assert_array_equal(back[name], value)


@pytest.mark.parametrize(("h", "w", "c"), [(4, 3, 2), (1, 5, 3), (3, 3, 1), (2, 2, 4)])
def test_flatten_permutation(h, w, c):
    grid = RNG.standard_normal((h, w, c))
    chw = grid.transpose(2, 0, 1).reshape(-1)
    hwc = grid.reshape(-1)
    order = hwc_index_of_chw(h, w, c)
    np.testing.assert_array_equal(rows_from_keras(hwc, order), chw)
    np.testing.assert_array_equal(rows_to_keras(chw, order), hwc)


def test_weight_table_tracks_the_flatten_order_through_batch_norm_and_dropout():
    """A BatchNorm after the flatten gets its vectors reordered, and the next Dense its rows: the order carries through."""
    spec = ModelSpec(InputSpec.frames(2, 3, 2, 2), layers=(Flatten(), BatchNorm(), Dropout(0.1), Dense(5), Dense(1)))
    order = hwc_index_of_chw(3, 2, 2)
    keras_side = {e.name: random_arrays(e.keras_shapes, RNG, layout="keras") for e in weight_table(spec)}
    state = keras_to_torch(spec, keras_side)
    np.testing.assert_array_equal(state["layers.batch_norm_1.running_mean"], keras_side["batch_norm_1"]["moving_mean"][order])
    np.testing.assert_array_equal(state["layers.dense_1.weight"], keras_side["dense_1"]["kernel"][order].T)
    np.testing.assert_array_equal(state["layers.dense_2.weight"], keras_side["dense_2"]["kernel"].T)  # after Dense: natural


def test_bidirectional_weights_are_two_directions():
    spec = ModelSpec(InputSpec.frames(3, 2, 2, 1), layers=(Flatten(), Bidirectional(GRU(2, reset_after=False)), Dense(1)))
    (entry,) = [e for e in weight_table(spec) if e.kind == "bidirectional"]
    assert entry.keras_shapes == {
        "forward/kernel": (4, 6), "forward/recurrent_kernel": (2, 6), "forward/bias": (6,),
        "backward/kernel": (4, 6), "backward/recurrent_kernel": (2, 6), "backward/bias": (6,),
    }  # fmt: skip
    assert set(entry.torch_shapes) == {
        f"{k}{s}" for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0") for s in ("", "_reverse")
    }
    keras_side = random_arrays(entry.keras_shapes, RNG, layout="keras")
    back = entry.to_keras(**entry.to_torch(**keras_side))
    for name, value in keras_side.items():
        np.testing.assert_array_equal(back[name], value)


@pytest.mark.parametrize(
    "layer",
    [
        Conv2D(2, 3, use_bias=False),
        Dense(2, use_bias=False),
        LSTM(2, use_bias=False),
        GRU(2, use_bias=False),
        SimpleRNN(2, use_bias=False),
    ],
    ids=lambda layer: layer.kind,
)
def test_layers_without_bias_have_no_bias_on_either_side(layer):
    layers = (layer, Flatten(), LSTM(2)) if isinstance(layer, Conv2D) else (Flatten(), layer)
    spec = ModelSpec(InputSpec.frames(3, 4, 4, 1), layers=layers)
    entry = weight_table(spec)[0]
    assert entry.kind == layer.kind
    assert not any("bias" in key for key in [*entry.keras_shapes, *entry.torch_shapes])
    torch_keys = {e.torch_prefix + key for e in weight_table(spec) for key in e.torch_shapes}
    assert set(torch_impl.build_model(spec).state_dict()) == torch_keys


def test_conv3d_and_conv_lstm_shapes_in_the_table():
    spec = ModelSpec(
        InputSpec.frames(4, 6, 5, 2),
        layers=(ConvLSTM2D(3, (3, 2), padding="same", return_sequences=True), Conv3D(1, (2, 3, 3), padding="same")),
    )
    conv_lstm_entry, conv3d_entry = weight_table(spec)
    assert conv_lstm_entry.keras_shapes == {"kernel": (3, 2, 2, 12), "recurrent_kernel": (3, 2, 3, 12), "bias": (12,)}
    assert conv_lstm_entry.torch_shapes == {"weight_ih": (12, 2, 3, 2), "weight_hh": (12, 3, 3, 2), "bias": (12,)}
    assert conv3d_entry.keras_shapes == {"kernel": (2, 3, 3, 3, 1), "bias": (1,)}
    assert set(torch_impl.build_model(spec).state_dict()) == {
        e.torch_prefix + k for e in (conv_lstm_entry, conv3d_entry) for k in e.torch_shapes
    }


def test_conv1d_layout_rules_input_order_and_inverses():
    """Conv1D kernel (k, in, out) -> weight (out, in, k), Conv1DTranspose kernel (k, out, in) -> weight (in, out, k); the
    input channels (axis 1, axis 2) permuted into torch's feature order, and back."""
    order = RNG.permutation(4)
    kernel, bias = _random(3, 4, 5), _random(5)
    torch_side = conv1d.keras_to_torch(kernel, bias, input_axis=1, input_order=order)
    assert torch_side["weight"].shape == (5, 4, 3)
    assert torch_side["weight"][4, 3, 2] == kernel[2, order[3], 4]  # [o, c, i] == [i, order[c], o]
    back = conv1d.torch_to_keras(**torch_side, input_axis=1, input_order=order)
    np.testing.assert_array_equal(back["kernel"], kernel)
    np.testing.assert_array_equal(back["bias"], bias)
    transposed = _random(3, 5, 4)  # (k, out, in)
    torch_side = conv1d.keras_to_torch(transposed, input_axis=2, input_order=order)
    assert torch_side["weight"].shape == (4, 5, 3) and "bias" not in torch_side
    assert torch_side["weight"][3, 4, 2] == transposed[2, 4, order[3]]  # [c, o, i] == [i, o, order[c]]
    np.testing.assert_array_equal(conv1d.torch_to_keras(**torch_side, input_axis=2, input_order=order)["kernel"], transposed)


def test_one_d_shapes_and_flatten_order_in_the_table():
    """A Conv1D after a flatten of frames reads the features in torch's (C, H, W) order: its kernel's input channels are
    permuted once; grouped kernels hold in / groups channels; ConvLSTM1D's gates are ConvLSTM2D's."""
    spec = ModelSpec(
        InputSpec.frames(6, 3, 2, 2),
        layers=(Flatten(), Conv1D(4, 3, padding="causal"), Conv1D(6, 2, groups=2), Conv1DTranspose(3, 2, strides=2)),
    )
    causal, grouped, transposed = weight_table(spec)
    assert (causal.keras_shapes, causal.torch_shapes) == (
        {"kernel": (3, 12, 4), "bias": (4,)},
        {"weight": (4, 12, 3), "bias": (4,)},
    )
    assert grouped.keras_shapes["kernel"] == (2, 2, 6) and grouped.torch_shapes["weight"] == (6, 2, 2)
    assert transposed.keras_shapes["kernel"] == (2, 3, 6) and transposed.torch_shapes["weight"] == (6, 3, 2)
    keras_side = {e.name: random_arrays(e.keras_shapes, RNG, layout="keras") for e in weight_table(spec)}
    state = keras_to_torch(spec, keras_side)
    order = hwc_index_of_chw(3, 2, 2)
    np.testing.assert_array_equal(state["layers.conv1d_1.weight"], keras_side["conv1d_1"]["kernel"][:, order].transpose(2, 1, 0))
    np.testing.assert_array_equal(state["layers.conv1d_2.weight"], keras_side["conv1d_2"]["kernel"].transpose(2, 1, 0))
    assert torch_to_keras(spec, state).keys() == keras_side.keys()
    conv_lstm_spec = ModelSpec(InputSpec((4, 6, 2), name="signals"), layers=(ConvLSTM1D(3, 2),))
    (entry,) = weight_table(conv_lstm_spec)
    assert entry.keras_shapes == {"kernel": (2, 2, 12), "recurrent_kernel": (2, 3, 12), "bias": (12,)}
    assert entry.torch_shapes == {"weight_ih": (12, 2, 2), "weight_hh": (12, 3, 2), "bias": (12,)}


# -- an independent Keras-layout forward pass in numpy -------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def keras_forward_numpy(spec: ModelSpec, weights: dict, x: np.ndarray) -> np.ndarray:
    """Keras semantics in Keras layout, by hand: NHWC frames, TF same padding, (H, W, C) flatten, gates i, f, c, o."""
    b, t = x.shape[:2]
    out = x.reshape(b * t, *x.shape[2:]).astype(np.float64)  # (N, H, W, C)
    for layer in spec.layers:
        if isinstance(layer, (Conv2D, Pool2D)):
            out = _frame_layer_numpy(layer, weights, out)
        elif isinstance(layer, Flatten):
            out = out.reshape(b, t, -1)  # (H, W, C) flatten, as Keras does
        elif isinstance(layer, LSTM):
            out = _lstm_numpy(layer, weights[layer.name], out)
        else:
            out = out @ weights[layer.name]["kernel"] + weights[layer.name]["bias"]
    return out


def _frame_layer_numpy(layer: Conv2D | Pool2D, weights: dict, frames: np.ndarray) -> np.ndarray:
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
    return out


def _lstm_numpy(layer: LSTM, weights: dict, seq: np.ndarray) -> np.ndarray:
    kernel, recurrent_kernel, bias = (weights[k] for k in ("kernel", "recurrent_kernel", "bias"))
    b, t = seq.shape[:2]
    h_t, c_t = np.zeros((b, layer.units)), np.zeros((b, layer.units))
    outputs = []
    for step in range(t):
        z = seq[:, step] @ kernel + h_t @ recurrent_kernel + bias
        zi, zf, zc, zo = np.split(z, 4, axis=1)
        c_t = _sigmoid(zf) * c_t + _sigmoid(zi) * np.tanh(zc)
        h_t = _sigmoid(zo) * np.tanh(c_t)
        outputs.append(h_t)
    return np.stack(outputs, axis=1) if layer.return_sequences else h_t


SMALL_SPECS = [
    ModelSpec(  # C > 1 at the flatten, H != W: the permutation matters
        InputSpec.frames(3, height=9, width=7, channels=2),
        layers=(
            Conv2D(3, (3, 2), padding="same", activation="relu"),
            Pool2D("avg", 2, padding="same"),
            Flatten(),
            LSTM(4),
            Dense(2),
        ),
    ),
    ModelSpec(InputSpec.frames(4, height=3, width=5, channels=3), layers=(Flatten(), LSTM(3, return_sequences=True), Dense(2))),
    ModelSpec(
        InputSpec.frames(3, height=8, width=6, channels=1),
        layers=(
            Conv2D(2, 3, strides=2, padding="same"),
            Pool2D("max", (2, 1)),
            Flatten(),
            LSTM(3, return_sequences=True),
            LSTM(2),
            Dense(1),
        ),
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
    extra = {**state, "layers.lstm_1.weight_ih_l1": np.zeros((16, 4), np.float32)}
    with pytest.raises(WeightMismatchError, match=r"does not account for: \['layers.lstm_1.weight_ih_l1'\]"):
        torch_to_keras(SPEC, extra)
    missing = {k: v for k, v in state.items() if k != "layers.dense_1.bias"}
    with pytest.raises(
        WeightMismatchError, match=r"missing torch tensors for layer 'dense_1' \(dense\): \['layers.dense_1.bias'\]"
    ):
        torch_to_keras(SPEC, missing)


def test_load_state_checks_keys_and_shapes():
    model = torch_impl.build_model(SPEC)
    state = keras_to_torch(SPEC, _keras_weights())
    with pytest.raises(WeightMismatchError, match=r"layers.dense_1.weight: shape \(4, 2\), expected \(2, 4\)"):
        torch_impl.load_state(model, {**state, "layers.dense_1.weight": np.zeros((4, 2), np.float32)})
    with pytest.raises(WeightMismatchError, match=r"missing \['layers.dense_1.bias'\]"):
        torch_impl.load_state(model, {k: v for k, v in state.items() if k != "layers.dense_1.bias"})


def test_gradients_map_like_weights_to_the_trainable_parameters():
    """A merged Keras bias' gradient goes to bias_ih (bias_hh is frozen); GRU reset_after's two rows map one-to-one;
    BatchNorm's moving statistics have no gradient; every trainable torch parameter gets exactly one."""
    spec = ModelSpec(
        InputSpec.frames(3, 4, 3, 2),
        layers=(
            Flatten(),
            BatchNorm(),
            LSTM(3, return_sequences=True),
            GRU(2, return_sequences=True),
            Bidirectional(GRU(2, reset_after=False)),
            Dense(1),
        ),
    )
    statistics = {"moving_mean": np.zeros(24, np.float32), "moving_variance": np.ones(24, np.float32)}
    grads = {
        entry.name: {key: RNG.standard_normal(shape).astype(np.float32) for key, shape in entry.keras_shapes.items()}
        for entry in weight_table(spec)
    }
    for key in statistics:
        del grads["batch_norm_1"][key]
    state = keras_gradients_to_torch(spec, grads)
    model = torch_impl.build_model(spec)
    assert set(state) == {name for name, p in model.named_parameters() if p.requires_grad}
    merged = {"layers.lstm_1.bias_hh_l0", "layers.bidirectional_1.bias_hh_l0", "layers.bidirectional_1.bias_hh_l0_reverse"}
    assert {name for name, p in model.named_parameters() if not p.requires_grad} == merged
    weight_rule = keras_to_torch(spec, {**grads, "batch_norm_1": {**grads["batch_norm_1"], **statistics}})
    for key, value in state.items():
        np.testing.assert_array_equal(value, weight_rule[key], err_msg=key)  # the weights' layout rule
    assert not np.array_equal(state["layers.gru_1.bias_ih_l0"], state["layers.gru_1.bias_hh_l0"])  # two Keras rows
    with pytest.raises(WeightMismatchError, match="moving_mean"):
        keras_gradients_to_torch(
            spec, {**grads, "batch_norm_1": {**grads["batch_norm_1"], "moving_mean": statistics["moving_mean"]}}
        )


def test_a_weight_spanning_axes_follows_the_torch_layout():
    """LayerNormalization over (H, W, C) of frames: Keras' gamma (H, W, C), torch's (C, H, W) for channels-first frames;
    over the features after a flatten: permuted like them. Both ways exact."""
    frames = Frames(3, 5, 4, 2)
    gamma = _random(5, 4, 2)
    spanning = AxesWeight.of((2, 3, 4), frames, CHANNELS_FIRST, "channels_last", "gamma")
    assert (spanning.dims, spanning.torch_shape, spanning.broadcast_shape) == ((-3, -2, -1), (2, 5, 4), (1, 2, 5, 4))
    np.testing.assert_array_equal(spanning.to_torch(gamma), gamma.transpose(2, 0, 1))
    np.testing.assert_array_equal(spanning.to_keras(spanning.to_torch(gamma)), gamma)
    assert AxesWeight.of((2, 3, 4), frames, KERAS, "channels_last", "gamma").torch_shape == (5, 4, 2)  # as Keras has it
    # a channels_first model's axis 2 is the channels: the weight is the channels', at torch's dim -3
    channels = AxesWeight.of((2,), frames, CHANNELS_FIRST, "channels_first", "gamma")
    assert (channels.dims, channels.keras_shape, channels.broadcast_shape) == ((-3,), (2,), (1, 2, 1, 1))
    # PReLU's alpha over flattened frames, shared over time: the features permuted, the time axis of size 1
    order = FeatureOrder(((3, 2, 2),))
    alpha = _random(1, 12)
    shared = AxesWeight.of((1, 2), Steps(4, 12), TensorLayout(False, order), "channels_last", "alpha", shared=(1,))
    np.testing.assert_array_equal(shared.to_torch(alpha), alpha[:, hwc_index_of_chw(3, 2, 2)])
    np.testing.assert_array_equal(shared.to_keras(shared.to_torch(alpha)), alpha)
    np.testing.assert_array_equal(axes.keras_to_torch(np.float32(2.0), ()), np.float32(2.0))  # a scalar stays one


def test_an_adapted_normalizations_integer_count_is_accepted_and_nothing_else_integer():
    spec = ModelSpec(InputSpec.sequence(4, 3), (Normalization(), Dense(1)))
    weights = {"normalization_1": {"mean": _random(3), "variance": np.ones(3, np.float32), "count": np.int64(7)},
               "dense_1": {"kernel": _random(3, 1), "bias": _random(1)}}  # fmt: skip
    assert keras_to_torch(spec, weights)["layers.normalization_1.count"] == 7
    weights["normalization_1"]["mean"] = np.arange(3)
    with pytest.raises(WeightMismatchError, match=r"'mean' has dtype int64, expected a floating-point dtype"):
        keras_to_torch(spec, weights)
