"""The specs every parity test runs over: the presets plus the shapes where layout and padding bugs hide."""

from __future__ import annotations

from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import LSTM, Conv2D, Dense, Flatten, InputSpec, ModelSpec, Pool2D

EXTRA_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(  # H != W and C > 1, so the HWC/CHW flatten orders really differ
        name="rect-multichannel",
        input=InputSpec(6, height=9, width=7, channels=2),
        layers=(Conv2D(4, 3, activation="relu"), Pool2D("max", 2), Flatten(), LSTM(8), Dense(3)),
    ),
    ModelSpec(  # stride 2, valid, odd sizes
        name="stride2-valid",
        input=InputSpec(5, height=11, width=10, channels=3),
        layers=(Conv2D(5, 3, strides=2, activation="tanh"), Flatten(), LSTM(6), Dense(2)),
    ),
    ModelSpec(  # same padding with even kernels: TensorFlow puts the odd cell bottom/right
        name="same-even-kernel",
        input=InputSpec(5, height=10, width=9, channels=1),
        layers=(
            Conv2D(4, (4, 2), padding="same", activation="relu"),
            Pool2D("max", 2, padding="same"),
            Flatten(),
            LSTM(7),
            Dense(1),
        ),
    ),
    ModelSpec(  # same padding with odd kernels and stride 2 (asymmetric), then a same conv
        name="same-odd-strided",
        input=InputSpec(4, height=9, width=8, channels=2),
        layers=(
            Conv2D(3, 3, strides=2, padding="same", activation="sigmoid"),
            Conv2D(4, (5, 3), padding="same"),
            Flatten(),
            LSTM(5),
            Dense(2),
        ),
    ),
    ModelSpec(  # average pooling with same padding: the mean is over valid cells only
        name="avg-pool-same",
        input=InputSpec(5, height=10, width=10, channels=1),
        layers=(Conv2D(4, 3, activation="relu"), Pool2D("avg", 3, strides=2, padding="same"), Flatten(), LSTM(6), Dense(1)),
    ),
    ModelSpec(  # pooling first, valid average pooling, C = 3, H != W
        name="avg-pool-first",
        input=InputSpec(4, height=8, width=12, channels=3),
        layers=(
            Pool2D("avg", 2),
            Conv2D(3, 2, activation="relu"),
            Pool2D("max", (2, 3), strides=1, padding="same"),
            Flatten(),
            LSTM(5),
            Dense(1),
        ),
    ),
    ModelSpec(  # two stacked LSTMs
        name="stacked-lstm",
        input=InputSpec(6, height=8, width=8, channels=1),
        layers=(Conv2D(4, 3, activation="relu"), Pool2D("max", 2), Flatten(), LSTM(8, return_sequences=True), LSTM(5), Dense(1)),
    ),
    ModelSpec(  # return_sequences into a per-timestep softmax head, flatten frontend with C > 1
        name="sequence-output",
        input=InputSpec(5, height=6, width=5, channels=2),
        layers=(Flatten(), LSTM(7, return_sequences=True), Dense(4, activation="softmax")),
    ),
    ModelSpec(  # stacked, sequences out, two Dense layers
        name="stacked-sequences-deep-head",
        input=InputSpec(4, height=5, width=7, channels=1),
        layers=(
            Conv2D(3, 2, padding="same", activation="relu"),
            Flatten(),
            LSTM(6, return_sequences=True),
            LSTM(5, return_sequences=True),
            Dense(8, activation="relu"),
            Dense(2),
        ),
    ),
    ModelSpec(  # a single timestep
        name="one-timestep",
        input=InputSpec(1, height=7, width=6, channels=2),
        layers=(Conv2D(3, 3, activation="relu"), Flatten(), LSTM(4), Dense(1, activation="tanh")),
    ),
    ModelSpec(  # timesteps left open: Keras' TimeDistributed takes its vectorized_map path
        name="open-timesteps",
        input=InputSpec(None, height=6, width=6, channels=1),
        layers=(Conv2D(3, 3, activation="relu"), Flatten(), LSTM(4), Dense(1)),
    ),
)

PARITY_SPECS: tuple[ModelSpec, ...] = (*(get_preset(name) for name in preset_names()), *EXTRA_SPECS)
