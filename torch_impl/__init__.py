"""Native PyTorch models for sequences of 2D grids, and conversion from/to Keras weights.

Imports torch, numpy, h5py and safetensors only: never keras or tensorflow, so a CUDA training box
needs neither, and reading a Keras file never runs code from it.
"""

from torch_impl.build import build_model, init_like_keras_, keras_initial_weights
from torch_impl.export import export_onnx, export_program
from torch_impl.files import (
    ModelFileError,
    UnsafeFileError,
    UnsupportedModelError,
    from_keras,
    load_safetensors,
    save_safetensors,
    to_keras,
)
from torch_impl.model import INPUT_LAYOUTS, Lstm2dNet
from torch_impl.weight_table import WeightMismatchError
from torch_impl.weights import export_keras_weights, load_keras_weights, load_state, state_as_numpy

__all__ = [
    "INPUT_LAYOUTS",
    "Lstm2dNet",
    "ModelFileError",
    "UnsafeFileError",
    "UnsupportedModelError",
    "WeightMismatchError",
    "build_model",
    "export_keras_weights",
    "export_onnx",
    "export_program",
    "from_keras",
    "init_like_keras_",
    "keras_initial_weights",
    "load_keras_weights",
    "load_safetensors",
    "load_state",
    "save_safetensors",
    "state_as_numpy",
    "to_keras",
]
