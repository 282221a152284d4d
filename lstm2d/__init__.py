"""lstm2d: native PyTorch models for sequences of 2D grids, with parity against Keras.

This package holds the framework-neutral model description and the command line;
``torch_impl`` and ``keras_ref`` build models from the description.
"""

from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import (
    GRU,
    LSTM,
    Activation,
    BatchNorm,
    Bidirectional,
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    Dense,
    Dropout,
    Flatten,
    GlobalPool2D,
    InputSpec,
    Masking,
    ModelSpec,
    Pool2D,
    SimpleRNN,
    SpecError,
)

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "Activation",
    "BatchNorm",
    "Bidirectional",
    "Conv2D",
    "Conv3D",
    "ConvLSTM2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalPool2D",
    "InputSpec",
    "Masking",
    "ModelSpec",
    "Pool2D",
    "SimpleRNN",
    "SpecError",
    "__version__",
    "get_preset",
    "preset_names",
]
