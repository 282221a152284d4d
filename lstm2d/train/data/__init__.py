"""Training data sources: samples for every model input, targets for every model output (see ``dataset.SampleSet``).

- ``sensor-grid`` (``sensor_grid``): synthetic gas puffs drifting over a sensor grid; regression
- ``moving-digits`` (``moving_digits``): real handwritten digits moving on a canvas; 10-class classification
- ``moving-pattern`` (``moving_pattern``): blobs bouncing across a grid; predict every next frame
- a ``.npz`` file (``npz_file``): the user's arrays, one per model input and one per output, validated

The built-in sources make frames ``(N, T, C, H, W)`` for a model of one frames input and one output.
"""

from __future__ import annotations

from pathlib import Path

from lstm2d.spec import InputSpec, ModelSpec, describe_shape
from lstm2d.train.config import BUILTIN_SOURCES, DataConfig
from lstm2d.train.data import moving_digits, moving_pattern, npz_file, sensor_grid
from lstm2d.train.data.dataset import SampleSet, Task, TrainValData
from lstm2d.train.errors import DataError

DEFAULT_SAMPLES = 4000  # built-in sources, train + validation
DEFAULT_TIMESTEPS = 20  # built-in sources, for models that accept any sequence length


def load_data(config: DataConfig, spec: ModelSpec, *, seed: int) -> TrainValData:
    """The data ``config`` names, for a model like ``spec``. Built-in sources are generated in the shape of the model's
    frames input (``config`` may override the sequence length and frame size), with a target per timestep if the model
    returns sequences; a file brings its own shapes, in the model's layout unless ``config.layout`` says otherwise."""
    if config.builtin:
        return _builtin(config, spec, seed)
    path = Path(config.source)
    if path.suffix != ".npz":
        raise DataError(f"--data: expected {' or '.join(BUILTIN_SOURCES)} or a .npz file, got {config.source!r}")
    layout = config.layout or spec.data_format
    return npz_file.load(path, spec, layout=layout, val_fraction=config.val_fraction, seed=seed)


def _builtin(config: DataConfig, spec: ModelSpec, seed: int) -> TrainValData:
    frames = spec.inputs[0]
    if len(spec.inputs) != 1 or len(frames.shape) != 4 or frames.dtype != "float32" or len(spec.outputs) != 1:
        found = ", ".join(f"{i.name}: {describe_shape(i.per_sample)}" for i in spec.inputs)
        raise DataError(
            f"--data {config.source} makes frames (time, height, width, channels) for a model of one frames input and one "
            f"output; model {spec.name!r} has {len(spec.inputs)} input(s) ({found}) and {len(spec.outputs)} output(s): "
            "train it on a .npz file with an array per input and a target per output"
        )
    height, width = config.frame or (frames.height, frames.width)
    shape = InputSpec.frames(
        timesteps=config.timesteps or frames.timesteps or DEFAULT_TIMESTEPS,
        height=height,
        width=width,
        channels=frames.channels,
        name=frames.name,
    )
    samples, output = config.samples or DEFAULT_SAMPLES, spec.outputs[0]
    if config.source == "moving-pattern":  # targets are frames: per timestep by nature
        return moving_pattern.load(shape, output=output, samples=samples, val_fraction=config.val_fraction, seed=seed)
    per_timestep = len(spec.output_shape()) == 2
    generate = sensor_grid.load if config.source == "sensor-grid" else moving_digits.load
    return generate(shape, output=output, samples=samples, val_fraction=config.val_fraction, per_timestep=per_timestep, seed=seed)


__all__ = ["DEFAULT_SAMPLES", "DEFAULT_TIMESTEPS", "SampleSet", "Task", "TrainValData", "load_data"]
