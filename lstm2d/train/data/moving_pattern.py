"""``moving-pattern``: bright shapes drifting and bouncing across a grid; predict every next frame.

Each sequence shows one to three Gaussian blobs of random size, brightness and velocity (up to a cell
per step, never still) moving across an ``H x W`` grid and bouncing off its edges; with several
channels each blob has a random colour. Sensors add Gaussian noise. The sample is frames ``0..T-1``;
the target is frames ``1..T``, the same sequence one step later, so the model must learn where each
shape is going. The trivial baseline is persistence: predict that the next frame equals this one.
"""

from __future__ import annotations

import numpy as np

from lstm2d.spec import InputSpec
from lstm2d.train.data.dataset import Task, TrainValData, frames_data, split_sizes

GENERATOR_VERSION = 1  # bump when the generated numbers change
MAX_BLOBS = 3
NOISE = 0.02


def generate(n: int, shape: InputSpec, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences: frames (n, T, C, H, W) float32 in about [0, 1], targets the frames one step later, same shape."""
    assert shape.timesteps is not None
    steps, channels, height, width = shape.timesteps + 1, shape.channels, shape.height, shape.width
    frames = np.zeros((n, steps, channels, height, width))
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    time = np.arange(steps)
    for index in range(MAX_BLOBS):
        present = np.ones(n, dtype=bool) if index == 0 else rng.random(n) < 0.75  # every sequence has a first blob
        start = rng.uniform(0, 1, (n, 2)) * [height - 1, width - 1]
        speed = rng.uniform(0.3, 1.0, n)
        angle = rng.uniform(0, 2 * np.pi, n)
        velocity = speed[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)  # (n, 2), cells per step
        centre = _bounce(start[:, None, :] + velocity[:, None, :] * time[None, :, None], [height - 1, width - 1])  # (n, S, 2)
        sigma = rng.uniform(0.8, 1.6, n)[:, None, None, None]
        colour = rng.uniform(0.5, 1.0, (n, channels))
        d2 = (rows - centre[..., 0, None, None]) ** 2 + (cols - centre[..., 1, None, None]) ** 2  # (n, S, H, W)
        blob = np.exp(-d2[:, :, None] / (2 * sigma[..., None] ** 2))  # (n, S, 1, H, W)
        frames += present[:, None, None, None, None] * colour[:, None, :, None, None] * blob
    frames = np.clip(frames, 0.0, 1.0) + rng.normal(0.0, NOISE, frames.shape)
    frames = frames.astype(np.float32)
    return frames[:, :-1], frames[:, 1:]


def load(shape: InputSpec, *, output: str, samples: int, val_fraction: float, seed: int) -> TrainValData:
    """Train and validation sets drawn independently (seeded) from the same process. The frames are the input ``shape``
    names, the targets are for the model output ``output``."""
    n_train, n_val = split_sizes(samples, val_fraction)
    train_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    task = Task("frames", units=shape.channels, per_timestep=True)
    x_train, y_train = generate(n_train, shape, rng=train_rng)
    x_val, y_val = generate(n_val, shape, rng=val_rng)
    return frames_data(
        shape,
        output,
        task,
        (x_train, y_train),
        (x_val, y_val),
        description=f"moving-pattern: {n_train} train + {n_val} validation sequences, {shape.timesteps} frames of "
        f"{shape.height}x{shape.width}x{shape.channels}; target: each next frame",
        fingerprint=f"moving-pattern/v{GENERATOR_VERSION} noise={NOISE}",
    )


def _bounce(position: np.ndarray, limit: list[int]) -> np.ndarray:
    """Positions reflected into ``[0, limit]`` per axis, as a shape bouncing off the edges moves."""
    period = 2 * np.asarray(limit, dtype=float)
    folded = np.mod(position, period)
    return np.where(folded > period / 2, period - folded, folded)
