"""The reference Keras 3 model built from a :class:`~lstm2d.spec.ModelSpec` (any backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from lstm2d.keras_layers import KerasConfig, keras_layer_config
from lstm2d.spec import ModelSpec


def build_model(spec: ModelSpec) -> keras.Model:
    """A Functional Keras model for ``spec``.

    Input ``(batch, time, height, width, channels)``, or ``(batch, time, channels, height, width)`` for a
    ``channels_first`` spec, named ``frames``.
    Each layer is the Keras layer ``lstm2d.keras_layers`` names for it, with the spec layer's name;
    2D layers on frames are wrapped in ``TimeDistributed``. A final ``Bidirectional(merge_mode=None)``
    gives a model with two outputs.
    """
    inputs = keras.Input(shape=spec.keras_input_shape, name="frames")
    x = inputs
    for entry in spec.layer_shapes():
        x = construct(keras_layer_config(entry.layer, entry.input, spec.data_format))(x)
    return keras.Model(inputs, x, name=spec.name)


def construct(config: KerasConfig) -> keras.layers.Layer:
    """The Keras layer for a config from ``lstm2d.keras_layers`` (the wrapped layer constructed first)."""
    arguments = dict(config["config"])
    if "layer" in arguments:
        arguments["layer"] = construct(arguments["layer"])
    for key in ("activation", "recurrent_activation"):
        if key in arguments:
            arguments[key] = activation(arguments[key])
    return getattr(keras.layers, config["class_name"])(**arguments)


def activation(name: str) -> str | Callable[[Any], Any]:
    """A Keras activation: its name, or for ``hard_sigmoid_keras2`` (Keras 2's formula, gone from Keras 3) a function."""
    if name == "hard_sigmoid_keras2":
        return lambda x: keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)
    return name
