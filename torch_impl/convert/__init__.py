"""Pure-numpy weight converters between Keras and torch layouts.

One module per layer kind (``conv``, ``dense``, ``recurrent``, ``batch_norm``, ``conv_lstm``) states its
layout rule once; ``layout`` holds the flatten-order fact; ``model`` maps a whole model through a table
built from the spec.
"""

from torch_impl.convert.model import (
    KerasWeights,
    LayerWeights,
    TorchState,
    WeightMismatchError,
    keras_gradients_to_torch,
    keras_to_torch,
    merged_bias_keys,
    torch_to_keras,
    weight_table,
)

__all__ = [
    "KerasWeights",
    "LayerWeights",
    "TorchState",
    "WeightMismatchError",
    "keras_gradients_to_torch",
    "keras_to_torch",
    "merged_bias_keys",
    "torch_to_keras",
    "weight_table",
]
