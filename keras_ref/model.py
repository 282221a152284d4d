"""The reference Keras 3 model built from a :class:`~lstm2d.spec.ModelSpec` (any backend)."""

from __future__ import annotations

import keras

from lstm2d.spec import Conv2D, ModelSpec, Pool2D


def build_model(spec: ModelSpec) -> keras.Model:
    """A Functional Keras model for ``spec``.

    Input ``(batch, time, height, width, channels)`` (Keras' channels_last layout). The
    per-timestep layers are each wrapped in ``TimeDistributed``, named after the spec's
    layer; the per-frame flatten is ``TimeDistributed(Flatten())`` named ``flatten``.
    """
    inp = spec.input
    inputs = keras.Input(shape=(inp.timesteps, inp.height, inp.width, inp.channels), name="frames")
    x = inputs
    for layer in spec.frontend:
        x = keras.layers.TimeDistributed(_frame_layer(layer), name=layer.name)(x)
    x = keras.layers.TimeDistributed(keras.layers.Flatten(), name="flatten")(x)
    for layer in spec.recurrent:
        x = keras.layers.LSTM(layer.units, return_sequences=layer.return_sequences, name=layer.name)(x)
    for layer in spec.head:
        x = keras.layers.Dense(layer.units, activation=layer.activation, name=layer.name)(x)
    return keras.Model(inputs, x, name=spec.name)


def _frame_layer(layer: Conv2D | Pool2D) -> keras.layers.Layer:
    if isinstance(layer, Conv2D):
        return keras.layers.Conv2D(
            layer.filters,
            layer.kernel_size,
            strides=layer.strides,
            padding=layer.padding,
            activation=layer.activation,
            name=f"{layer.name}_inner",
        )
    pool = keras.layers.MaxPooling2D if layer.mode == "max" else keras.layers.AveragePooling2D
    return pool(layer.pool_size, strides=layer.strides, padding=layer.padding, name=f"{layer.name}_inner")
