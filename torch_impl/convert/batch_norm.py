"""Keras ``BatchNormalization`` <-> lstm2d's ``KerasBatchNorm`` (``nn.BatchNorm``'s names).

    gamma -> weight, beta -> bias, moving_mean -> running_mean, moving_variance -> running_var, all (features,)

The same numbers on both sides (the momentum and epsilon semantics live in the module, not the
weights); ``gamma`` / ``beta`` are absent with ``scale=False`` / ``center=False``. After a flatten the
vectors are reordered like any per-feature weight (``input_order``, see ``layout``).
"""

from __future__ import annotations

import numpy as np

from torch_impl.convert.layout import rows_from_keras, rows_to_keras

KERAS_TO_TORCH = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def keras_to_torch(*, input_order: np.ndarray | None = None, **keras: np.ndarray) -> dict[str, np.ndarray]:
    return {KERAS_TO_TORCH[name]: rows_from_keras(value, input_order).copy() for name, value in keras.items()}


def torch_to_keras(*, input_order: np.ndarray | None = None, **torch_state: np.ndarray) -> dict[str, np.ndarray]:
    to_keras = {torch_name: keras_name for keras_name, torch_name in KERAS_TO_TORCH.items()}
    return {to_keras[name]: rows_to_keras(value, input_order).copy() for name, value in torch_state.items()}
