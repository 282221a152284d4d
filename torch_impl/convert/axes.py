"""A weight that spans some axes of a tensor (LayerNormalization's gamma and beta, PReLU's alpha, Normalization's
mean and variance), Keras <-> torch.

    Keras: the spanned axes in Keras' order  <->  torch: the same axes in the order of the torch dims that hold them,
    ``torch = keras.transpose(transpose)``; the features (the last axis, when spanned) in torch's input order.

So the torch weight broadcasts against the tensor as torch stores it (channels first, features permuted after a
flatten), and nothing is permuted in the forward pass. ``input_order`` is as in ``layout``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def keras_to_torch(array: np.ndarray, transpose: Sequence[int], input_order: np.ndarray | None = None) -> np.ndarray:
    out = np.transpose(array, transpose)
    if input_order is not None:
        out = np.take(out, input_order, axis=-1)
    return out.copy(order="C")  # np.ascontiguousarray would make a scalar (axis=None) one-dimensional


def torch_to_keras(array: np.ndarray, transpose: Sequence[int], input_order: np.ndarray | None = None) -> np.ndarray:
    out = array if input_order is None else np.take(array, np.argsort(input_order), axis=-1)
    return np.transpose(out, np.argsort(transpose)).copy(order="C")
