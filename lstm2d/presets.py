"""Named model descriptions: ``get_preset("seed-cnn")`` returns a :class:`ModelSpec`; ``preset_names()`` lists them.

The ``seed-*`` presets are the corrected versions of the three models in the article
"Can Keras LSTM layers handle 2D input data?": 100 timesteps of a 10x10 sensor grid.
``next-frame`` keeps the grid through the recurrence (ConvLSTM2D) and predicts the next frames.
"""

from __future__ import annotations

from collections.abc import Callable

from lstm2d.spec import LSTM, BatchNorm, Conv2D, Conv3D, ConvLSTM2D, Dense, Flatten, InputSpec, ModelSpec, Pool2D, SpecError


def _seed_flat() -> ModelSpec:
    """Each 10x10x1 frame flattened to 100 features -> LSTM(64) -> Dense(1)."""
    return ModelSpec(
        name="seed-flat",
        input=InputSpec.frames(timesteps=100, height=10, width=10, channels=1),
        layers=(Flatten(), LSTM(64), Dense(1)),
    )


def _seed_cnn(channels: int, name: str) -> ModelSpec:
    """Per frame Conv2D(32, 3x3, relu) -> MaxPool(2) -> Flatten, then LSTM(64) -> Dense(1)."""
    return ModelSpec(
        name=name,
        input=InputSpec.frames(timesteps=100, height=10, width=10, channels=channels),
        layers=(Conv2D(32, (3, 3), activation="relu"), Pool2D("max", (2, 2)), Flatten(), LSTM(64), Dense(1)),
    )


def _next_frame() -> ModelSpec:
    """Keras' next-frame ConvLSTM recipe, sized for a CPU: two ConvLSTM2D(16, 3x3) layers with BatchNorm,
    then a Conv3D(1, 3x3x3, sigmoid) head: 10 frames of 16x16x1 in, the 10 following frames out.

    BatchNorm momentum 0.9 rather than Keras' 0.99: with 0.99 the moving variance keeps ~0.99^steps of its
    initial 1.0 (5% after 300 steps), so a short training run validates far worse than it trains."""
    return ModelSpec(
        name="next-frame",
        input=InputSpec.frames(timesteps=10, height=16, width=16, channels=1),
        layers=(
            ConvLSTM2D(16, (3, 3), padding="same", return_sequences=True, activation="relu"),
            BatchNorm(momentum=0.9),
            ConvLSTM2D(16, (3, 3), padding="same", return_sequences=True, activation="relu"),
            BatchNorm(momentum=0.9),
            Conv3D(1, (3, 3, 3), padding="same", activation="sigmoid"),
        ),
    )


PRESETS: dict[str, Callable[[], ModelSpec]] = {
    "seed-flat": _seed_flat,
    "seed-cnn": lambda: _seed_cnn(1, "seed-cnn"),
    "seed-cnn-rgb": lambda: _seed_cnn(3, "seed-cnn-rgb"),
    "next-frame": _next_frame,
}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name``."""
    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]()
