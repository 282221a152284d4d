"""Training data sources; every one gives ``(N, T, C, H, W)`` float32 samples and task-typed targets.

- ``sensor-grid`` (``sensor_grid``): synthetic gas puffs drifting over a sensor grid; regression
- ``moving-digits`` (``moving_digits``): real handwritten digits moving on a canvas; 10-class classification
- ``moving-pattern`` (``moving_pattern``): blobs bouncing across a grid; predict every next frame
- a ``.npz`` file (``npz_file``): the user's ``x`` and ``y``, validated
"""

from __future__ import annotations

from pathlib import Path

from lstm2d.spec import InputSpec
from lstm2d.train.config import BUILTIN_SOURCES, DataConfig
from lstm2d.train.data import moving_digits, moving_pattern, npz_file, sensor_grid
from lstm2d.train.data.dataset import GridDataset, Task, TrainValData
from lstm2d.train.errors import DataError

DEFAULT_SAMPLES = 4000  # built-in sources, train + validation
DEFAULT_TIMESTEPS = 20  # built-in sources, for models that accept any sequence length


def load_data(config: DataConfig, model_input: InputSpec, *, per_timestep: bool, seed: int) -> TrainValData:
    """The data ``config`` names. Built-in sources are generated in ``model_input``'s shape (``config`` may override
    the sequence length and frame size) with per-timestep targets if ``per_timestep``; a file brings its own shape."""
    if config.builtin:
        height, width = config.frame or (model_input.height, model_input.width)
        shape = InputSpec.frames(
            timesteps=config.timesteps or model_input.timesteps or DEFAULT_TIMESTEPS,
            height=height,
            width=width,
            channels=model_input.channels,
        )
        samples = config.samples or DEFAULT_SAMPLES
        if config.source == "moving-pattern":  # targets are frames: per timestep by nature
            return moving_pattern.load(shape, samples=samples, val_fraction=config.val_fraction, seed=seed)
        generate = sensor_grid.load if config.source == "sensor-grid" else moving_digits.load
        return generate(shape, samples=samples, val_fraction=config.val_fraction, per_timestep=per_timestep, seed=seed)
    path = Path(config.source)
    if path.suffix != ".npz":
        raise DataError(f"--data: expected {' or '.join(BUILTIN_SOURCES)} or a .npz file, got {config.source!r}")
    return npz_file.load(path, layout=config.layout, val_fraction=config.val_fraction, seed=seed)


__all__ = ["DEFAULT_SAMPLES", "DEFAULT_TIMESTEPS", "GridDataset", "Task", "TrainValData", "load_data"]
