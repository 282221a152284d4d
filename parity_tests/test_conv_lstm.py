"""``ConvLSTM2d`` as a module on its own: Keras' ``return_state`` and ``initial_state``, against ``keras.layers.ConvLSTM2D``."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

from lstm2d.parity import random_arrays
from lstm2d.spec import ConvLSTM2D, Frames
from lstm2d.spec.keras_graph import layer_config
from lstm2d.tolerances import FP32_CPU_FORWARD_ATOL
from torch_impl.convert import conv_lstm
from torch_impl.layers import ConvLSTM2d


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_return_state_and_initial_state_match_keras(return_sequences, go_backwards):
    rng = np.random.default_rng(3)
    layer = ConvLSTM2D(3, (3, 2), padding="same", return_sequences=return_sequences, go_backwards=go_backwards, name="cl")
    frames = Frames(4, 6, 5, 2)
    config = layer_config(layer, layer.name, frames, "channels_last")["config"]
    keras_layer = keras.layers.ConvLSTM2D(**config, return_state=True)
    x = rng.standard_normal((2, *frames.dims)).astype(np.float32)
    h0, c0 = (rng.standard_normal((2, 6, 5, 3)).astype(np.float32) for _ in range(2))
    keras_layer(x, initial_state=[h0, c0])  # builds the weights
    weights = random_arrays({"kernel": (3, 2, 2, 12), "recurrent_kernel": (3, 2, 3, 12), "bias": (12,)}, rng, layout="keras")
    keras_layer.set_weights([weights["kernel"], weights["recurrent_kernel"], weights["bias"]])
    expected = [keras.ops.convert_to_numpy(t) for t in keras_layer(x, initial_state=[h0, c0])]

    module = ConvLSTM2d(layer, frames, return_state=True)
    with torch.no_grad():
        for name, value in conv_lstm.keras_to_torch(**weights).items():
            getattr(module, name).copy_(torch.from_numpy(value))
        to_torch = lambda a: torch.from_numpy(a).movedim(-1, -3)  # noqa: E731 - channels last -> first
        got = module(to_torch(x), initial_state=(to_torch(h0), to_torch(c0)))
    assert len(got) == len(expected) == 3  # output, h, c
    for ours, theirs in zip(got, expected, strict=True):
        np.testing.assert_allclose(ours.movedim(-3, -1).numpy(), theirs, rtol=0, atol=FP32_CPU_FORWARD_ATOL)
