"""The one batch every engine trains and infers on: seeded numpy, so each process makes the same arrays."""

from __future__ import annotations

import numpy as np

from lstm2d.spec import ModelSpec, fixed_dims

SEED = 0


def make_batch(spec: ModelSpec, batch: int, timesteps: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(batch, time, height, width, channels)`` (Keras' layout) and regression targets shaped like the output.

    Standard-normal float32, from a generator seeded with :data:`SEED`. Torch engines permute the
    inputs once to their ``(batch, time, channels, height, width)`` layout before timing.
    """
    rng = np.random.default_rng(SEED)
    inp = spec.input
    x = rng.standard_normal((batch, timesteps, inp.height, inp.width, inp.channels), dtype=np.float32)
    y = rng.standard_normal((batch, *fixed_dims(spec.with_input(timesteps=timesteps).output_shape())), dtype=np.float32)
    return x, y
