"""The article's examples 2 and 3 as written, the error they give, and the corrected models.

Example 2 puts Conv2D -> MaxPooling2D -> Flatten -> LSTM in one Sequential: Flatten gives
(batch, features), 2-D, and the LSTM wants (batch, time, features). It also feeds 100
timesteps as 100 samples. The corrected form wraps the per-frame layers in TimeDistributed
and feeds (samples, 100, 10, 10, channels): the seed-cnn / seed-cnn-rgb presets.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from keras.layers import LSTM, Conv2D, Dense, Flatten, MaxPooling2D

import keras_ref
import torch_impl
from lstm2d import get_preset


def _article_model(channels: int) -> keras.Sequential:
    return keras.Sequential(
        [
            Conv2D(32, (3, 3), activation="relu", input_shape=(10, 10, channels)),
            MaxPooling2D((2, 2)),
            Flatten(),
            LSTM(64),
            Dense(1),
        ]
    )


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
@pytest.mark.parametrize("channels", [1, 3], ids=["example-2", "example-3"])
def test_article_model_as_written_fails_with_ndim_error(channels):
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2"):
        _article_model(channels)


@pytest.mark.parametrize("preset", ["seed-cnn", "seed-cnn-rgb"])
def test_corrected_model_takes_samples_of_100_frames(preset):
    spec = get_preset(preset)
    model = keras_ref.build_model(spec)
    assert [type(layer).__name__ for layer in model.layers[1:4]] == ["TimeDistributed"] * 3
    data = np.random.default_rng(0).random((4, 100, 10, 10, spec.input.channels), dtype=np.float32)
    assert tuple(model(data).shape) == (4, 1)


@pytest.mark.parametrize("preset", ["seed-cnn", "seed-cnn-rgb"])
def test_timesteps_fed_as_samples_is_refused_on_both_sides(preset):
    spec = get_preset(preset)
    article_data = np.random.default_rng(0).random((100, 10, 10, spec.input.channels), dtype=np.float32)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 100, 10, 10"):
        keras_ref.build_model(spec)(article_data)
    torch_model = torch_impl.build_model(spec, input_layout="channels_last")
    with pytest.raises(ValueError, match=r"100 timesteps passed as 100 samples.*unsqueeze\(0\)"):
        torch_model(torch.from_numpy(article_data))
    assert tuple(torch_model(torch.from_numpy(article_data).unsqueeze(0)).shape) == (1, 1)
