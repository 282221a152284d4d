"""lstm2d: native PyTorch models for sequences of 2D grids, with parity against Keras.

This package holds the framework-neutral model description and the command line;
``torch_impl`` and ``keras_ref`` build models from the description.
"""

from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import LSTM, Conv2D, Dense, InputSpec, ModelSpec, Pool2D, SpecError

__version__ = "0.1.0"

__all__ = [
    "LSTM",
    "Conv2D",
    "Dense",
    "InputSpec",
    "ModelSpec",
    "Pool2D",
    "SpecError",
    "__version__",
    "get_preset",
    "preset_names",
]
