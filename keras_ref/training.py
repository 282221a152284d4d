"""Training the reference Keras model the way a Keras user does: ``compile``, then ``train_on_batch`` per step.

Optimizers and losses are named, so the torch side can pick the counterpart of each:
``"sgd"`` (``keras.optimizers.SGD``, no momentum) and ``"adam"`` (``keras.optimizers.Adam``, Keras'
defaults: beta_1 0.9, beta_2 0.999, epsilon 1e-7); ``"mse"`` (``"mean_squared_error"``: the mean over
every output element) and ``"crossentropy"`` (``SparseCategoricalCrossentropy(from_logits=True)``:
integer labels, the mean over the batch and, for sequence outputs, the timesteps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np

OPTIMIZERS = ("sgd", "adam")
LOSSES = ("mse", "crossentropy")


def keras_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """A fresh Keras optimizer for ``name`` (one of :data:`OPTIMIZERS`), Keras' defaults except the learning rate."""
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {name!r}")


def keras_loss(name: str) -> str | keras.losses.Loss:
    """The Keras loss for ``name`` (one of :data:`LOSSES`)."""
    if name == "mse":
        return "mean_squared_error"
    if name == "crossentropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    raise ValueError(f"loss: expected one of {LOSSES}, got {name!r}")


def train_on_batches(
    model: keras.Model,
    batches: Sequence[tuple[np.ndarray | Mapping[str, np.ndarray], np.ndarray]],
    *,
    optimizer: str,
    loss: str,
    learning_rate: float,
) -> np.ndarray:
    """Compile ``model`` and take one ``train_on_batch`` step per ``(inputs, targets)`` batch; the loss of every step.

    ``inputs`` in the model's layout; ``targets`` the output's shape (``"mse"``) or its shape without the
    class axis, as integers (``"crossentropy"``). Each returned loss is the one computed in that step's
    forward pass, before its update (``train_on_batch`` resets the loss tracker every call).
    Returns ``(steps,)`` float64. The model's weights, moving statistics included, are trained in place.
    """
    model.compile(optimizer=keras_optimizer(optimizer, learning_rate), loss=keras_loss(loss))
    return np.array([float(model.train_on_batch(x, y)) for x, y in batches])
