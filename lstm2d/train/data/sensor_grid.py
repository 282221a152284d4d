"""``sensor-grid``: puffs of gas drifting and spreading over a grid of sensors; forecast the peak reading.

The physical process, per sample: a wind of random direction and speed carries every gas across an
``H x W`` grid of sensors (semi-Lagrangian advection with bilinear interpolation), the gases diffuse
(explicit 5-point Laplacian) and decay, and puffs are released at random times and places. The grid
wraps around (periodic boundaries), so the physics is the same at every sensor. Channel ``c`` is gas
``c``; the gases share the puffs and the wind but diffuse at different rates. The sensors read the
field with Gaussian noise.

Target: the highest concentration of gas 0 that the grid will read ``horizon`` steps after the last
frame (or after every frame, for models that return sequences), from what is in the air at that frame
(later emissions are unknowable, so they are not part of the target). Predicting it needs *where*
the peaks are, how sharp they are (diffusion lowers a sharp peak faster) and how they move: a
translation-invariant question about local shapes, which a convolution answers once for every
position while a flatten-LSTM must learn it at each sensor separately. The trivial baseline
predicts the training targets' mean.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from lstm2d.spec import InputSpec
from lstm2d.train.data.dataset import Task, TrainValData, frames_data, split_sizes

GENERATOR_VERSION = 1  # bump when the generated numbers change


@dataclass(frozen=True)
class SensorGridParams:
    """The physics, in grid cells and steps."""

    wind_speed: tuple[float, float] = (0.3, 1.0)  # cells per step, uniform in this range, random direction
    diffusivity: float = 0.05  # gas c diffuses at diffusivity * (1 + c % 3); explicit scheme stable below 0.25
    decay: float = 0.97  # fraction left after each step
    puff_rate: float = 0.15  # chance of a puff per sample and step
    puff_width: float = 1.0  # Gaussian sigma, cells
    puff_amount: tuple[float, float] = (0.5, 1.5)  # peak concentration of each gas in a new puff, uniform
    noise: float = 0.02  # sensor noise, standard deviation
    horizon: int = 3  # steps ahead of a frame that the target looks
    burn_in: int = 10  # steps simulated before the first frame


def generate(
    n: int, shape: InputSpec, *, per_timestep: bool, rng: np.random.Generator, params: SensorGridParams = SensorGridParams()
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples: frames (n, T, C, H, W) float32 and targets (n, 1), or (n, T, 1) per timestep."""
    assert shape.timesteps is not None
    timesteps, channels, height, width = shape.timesteps, shape.channels, shape.height, shape.width
    angle = rng.uniform(0.0, 2 * math.pi, n)
    speed = rng.uniform(*params.wind_speed, n)
    wind = (speed * np.sin(angle), speed * np.cos(angle))  # (vy, vx), cells per step
    diffusivity = params.diffusivity * (1 + np.arange(channels) % 3)[None, :, None, None]  # (1, C, 1, 1)

    def transport(u: np.ndarray) -> np.ndarray:  # (n, C', H, W) one step later, without emissions; gases 0..C'-1
        u = _advect(u, *wind)
        return params.decay * (u + diffusivity[:, : u.shape[1]] * _laplacian(u))

    u = np.zeros((n, channels, height, width))
    frames = np.empty((n, timesteps, channels, height, width), np.float32)
    peaks = np.empty((n, timesteps), np.float32)
    for t in range(-params.burn_in, timesteps):
        u = transport(u) + _puffs(n, channels, height, width, rng, params)
        if t < 0:
            continue
        frames[:, t] = u + params.noise * rng.standard_normal(u.shape)
        if per_timestep or t == timesteps - 1:
            ahead = u[:, :1]  # gas 0
            for _ in range(params.horizon):
                ahead = transport(ahead)
            peaks[:, t] = ahead.reshape(n, -1).max(axis=1)
    targets = peaks[:, :, None] if per_timestep else peaks[:, -1:]
    return frames, targets


def load(
    shape: InputSpec,
    *,
    output: str,
    samples: int,
    val_fraction: float,
    per_timestep: bool,
    seed: int,
    params: SensorGridParams = SensorGridParams(),
) -> TrainValData:
    """Train and validation sets drawn independently (seeded) from the same process. The frames are the input ``shape``
    names, the targets are for the model output ``output``."""
    n_train, n_val = split_sizes(samples, val_fraction)
    train_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    task = Task("regression", units=1, per_timestep=per_timestep)
    x_train, y_train = generate(n_train, shape, per_timestep=per_timestep, rng=train_rng, params=params)
    x_val, y_val = generate(n_val, shape, per_timestep=per_timestep, rng=val_rng, params=params)
    return frames_data(
        shape,
        output,
        task,
        (x_train, y_train),
        (x_val, y_val),
        description=f"sensor-grid: {n_train} train + {n_val} validation sequences, {_shape(shape)}; "
        f"target: peak of gas 0 {params.horizon} steps ahead",
        fingerprint=f"sensor-grid/v{GENERATOR_VERSION} {asdict(params)}",
    )


def _shape(shape: InputSpec) -> str:
    return f"{shape.timesteps} frames of {shape.height}x{shape.width}x{shape.channels}"


def _advect(u: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
    """Field ``u`` (n, C, H, W) carried by ``(vy, vx)`` (n,) cells for one step: ``u(y - vy, x - vx)``, bilinear, periodic."""
    n, channels, height, width = u.shape
    ys = np.arange(height)[None, :] - vy[:, None]  # (n, H) where each cell's content comes from
    xs = np.arange(width)[None, :] - vx[:, None]  # (n, W)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    fy, fx = (ys - y0)[:, None, :, None], (xs - x0)[:, None, None, :]  # (n, 1, H, 1), (n, 1, 1, W)
    y0, x0 = y0 % height, x0 % width
    y1, x1 = (y0 + 1) % height, (x0 + 1) % width
    sample = np.arange(n)[:, None, None, None]
    channel = np.arange(channels)[None, :, None, None]

    def at(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:  # (n, C, H, W)
        return u[sample, channel, rows[:, None, :, None], cols[:, None, None, :]]

    top = (1 - fx) * at(y0, x0) + fx * at(y0, x1)
    bottom = (1 - fx) * at(y1, x0) + fx * at(y1, x1)
    return (1 - fy) * top + fy * bottom


def _laplacian(u: np.ndarray) -> np.ndarray:
    """5-point Laplacian of ``u`` (..., H, W), periodic."""
    return np.roll(u, 1, -1) + np.roll(u, -1, -1) + np.roll(u, 1, -2) + np.roll(u, -1, -2) - 4 * u


def _puffs(n: int, channels: int, height: int, width: int, rng: np.random.Generator, params: SensorGridParams) -> np.ndarray:
    """New gas released this step, (n, C, H, W): a Gaussian puff in each sample that emits, zeros elsewhere."""
    emitted = np.zeros((n, channels, height, width))
    where = np.flatnonzero(rng.random(n) < params.puff_rate)
    centre_y = rng.uniform(0, height, len(where))[:, None, None]
    centre_x = rng.uniform(0, width, len(where))[:, None, None]
    amount = rng.uniform(*params.puff_amount, (len(where), channels))[:, :, None, None]
    dy = (np.arange(height)[None, :, None] - centre_y + height / 2) % height - height / 2  # periodic distance
    dx = (np.arange(width)[None, None, :] - centre_x + width / 2) % width - width / 2
    blob = np.exp(-(dy**2 + dx**2) / (2 * params.puff_width**2))  # (m, H, W)
    emitted[where] = amount * blob[:, None]
    return emitted
