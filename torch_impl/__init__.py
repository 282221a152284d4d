"""Native PyTorch models for sequences of 2D grids, and conversion from/to Keras weights.

Imports torch and numpy only: never keras or tensorflow, so a CUDA training box needs neither.
"""

from torch_impl.convert import WeightMismatchError
from torch_impl.model import INPUT_LAYOUTS, Lstm2dNet, build_model
from torch_impl.weights import export_keras_weights, load_keras_weights, load_state, state_as_numpy

__all__ = [
    "INPUT_LAYOUTS",
    "Lstm2dNet",
    "WeightMismatchError",
    "build_model",
    "export_keras_weights",
    "load_keras_weights",
    "load_state",
    "state_as_numpy",
]
