"""``moving-digits``: real handwritten digits moving across a canvas; classify the digit.

The digits are scikit-learn's bundled 8x8 handwritten digits (1,797 images by 43 writers; no download).
Each sequence places one digit on an ``H x W`` canvas and moves it in a straight line, one pixel per
frame along each moving axis, bouncing off the edges; with several channels the digit gets a random
colour. Pixels carry Gaussian noise. The images are split into train and validation *before* sequences
are made, so validation shows handwriting the model never saw. The trivial baseline predicts the
training set's class frequencies (accuracy: its most frequent class).
"""

from __future__ import annotations

import numpy as np

from lstm2d.spec import InputSpec
from lstm2d.train.data.dataset import Task, TrainValData, frames_data, split_sizes
from lstm2d.train.errors import DataError

GENERATOR_VERSION = 1  # bump when the generated numbers change
DIGIT = 8  # the images are DIGIT x DIGIT
CLASSES = 10
NOISE = 0.05


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images (1797, 8, 8) float in [0, 1], labels (1797,) int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("moving-digits needs scikit-learn's bundled digits: pip install 'lstm2d[train]'") from None
    digits = load_digits()
    return digits.images.astype(np.float64) / 16.0, digits.target.astype(np.int64)


def generate(
    images: np.ndarray, labels: np.ndarray, n: int, shape: InputSpec, *, per_timestep: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of randomly chosen ``images``: frames (n, T, C, H, W) float32, labels (n,) or (n, T) int64."""
    assert shape.timesteps is not None
    timesteps, channels, height, width = shape.timesteps, shape.channels, shape.height, shape.width
    pick = rng.integers(0, len(images), n)
    room = np.array([height - DIGIT, width - DIGIT])  # top-left corner positions 0..room per axis
    start = rng.integers(0, room + 1, (n, 2))
    velocity = rng.choice([-1, 0, 1], (n, 2))
    still = ~velocity.any(axis=1)
    velocity[still, rng.integers(0, 2, still.sum())] = 1  # every digit moves
    colour = np.ones((n, 1)) if channels == 1 else rng.uniform(0.3, 1.0, (n, channels))
    frames = rng.normal(0.0, NOISE, (n, timesteps, channels, height, width)).astype(np.float32)
    steps = np.arange(timesteps)[None, :, None]
    corner = _bounce(start[:, None, :] + velocity[:, None, :] * steps, room)  # (n, T, 2)
    for i in range(n):
        glyph = colour[i][:, None, None] * images[pick[i]]  # (C, 8, 8)
        for t in range(timesteps):
            top, left = corner[i, t]
            frames[i, t, :, top : top + DIGIT, left : left + DIGIT] += glyph
    y = labels[pick]
    return frames, (np.repeat(y[:, None], timesteps, axis=1) if per_timestep else y)


def load(shape: InputSpec, *, output: str, samples: int, val_fraction: float, per_timestep: bool, seed: int) -> TrainValData:
    """Sequences of training-set digits, and validation sequences of held-out digits. The frames are the input ``shape``
    names, the targets are for the model output ``output``."""
    if shape.height < DIGIT or shape.width < DIGIT:
        raise DataError(
            f"moving-digits: expected frames of at least {DIGIT}x{DIGIT} (the digits are {DIGIT}x{DIGIT}), "
            f"got {shape.height}x{shape.width}; pass --frame, e.g. --frame 16x16"
        )
    images, labels = digit_images()
    split_rng, train_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    order = split_rng.permutation(len(images))
    _, n_val_images = split_sizes(len(images), val_fraction)
    val_images, train_images = order[:n_val_images], order[n_val_images:]
    n_train, n_val = split_sizes(samples, val_fraction)
    task = Task("classification", units=CLASSES, per_timestep=per_timestep)
    x_train, y_train = generate(
        images[train_images], labels[train_images], n_train, shape, per_timestep=per_timestep, rng=train_rng
    )
    x_val, y_val = generate(images[val_images], labels[val_images], n_val, shape, per_timestep=per_timestep, rng=val_rng)
    return frames_data(
        shape,
        output,
        task,
        (x_train, y_train),
        (x_val, y_val),
        description=f"moving-digits: {n_train} train sequences of {len(train_images)} digit images, {n_val} "
        f"validation sequences of {len(val_images)} held-out images, {shape.timesteps} frames of "
        f"{shape.height}x{shape.width}x{shape.channels}",
        fingerprint=f"moving-digits/v{GENERATOR_VERSION}",
    )


def _bounce(position: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Positions moving freely, folded back into ``0..room`` as if reflected at both ends (a triangle wave)."""
    period = np.maximum(2 * room, 1)
    folded = position % period
    return np.where(folded > room, period - folded, folded).astype(np.int64)
