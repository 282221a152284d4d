"""Reference Keras 3 models built from the same description as the torch ones.

Imports keras (any backend), never torch_impl.
"""

from keras_ref.files import KerasLoadError, load_vetted_model
from keras_ref.gradients import loss_gradients
from keras_ref.model import build_model
from keras_ref.weights import get_weights, set_weights

__all__ = ["KerasLoadError", "build_model", "get_weights", "load_vetted_model", "loss_gradients", "set_weights"]
