"""Keras model weights as ``{layer name: {variable name: numpy array}}`` (Keras layout).

Variable names are Keras' own (``kernel``, ``recurrent_kernel``, ``bias``, ``gamma``, ``moving_mean``, ...);
a ``Bidirectional``'s are prefixed with the direction: ``forward/kernel``, ``backward/bias``.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from lstm2d.spec import ModelSpec

KerasWeights = dict[str, dict[str, np.ndarray]]
"""``{layer name: {variable name: array}}`` in Keras layout."""


def get_weights(model: keras.Model, spec: ModelSpec) -> KerasWeights:
    """Every weight of the spec's layers, keyed by layer and variable name."""
    out: KerasWeights = {}
    for layer in spec.layers:
        variables = variables_by_name(model, layer.name)
        if variables:
            out[layer.name] = {name: keras.ops.convert_to_numpy(v.value) for name, v in variables.items()}
    return out


def set_weights(model: keras.Model, spec: ModelSpec, weights: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Assign ``weights`` to the model; every variable must be given exactly once, with its exact shape."""
    expected = {layer.name: variables_by_name(model, layer.name) for layer in spec.layers}
    extra = sorted(name for name in weights if not expected.get(name) and len(weights[name]) > 0)
    if extra:
        raise ValueError(f"weights given for layers without weights in the Keras model: {extra}")
    for layer_name, variables in expected.items():
        given = weights.get(layer_name, {})
        missing = sorted(set(variables) - set(given))
        unexpected = sorted(set(given) - set(variables))
        if missing or unexpected:
            raise ValueError(f"Keras layer {layer_name!r}: missing weights {missing}, unexpected {unexpected}")
        for name, variable in variables.items():
            array = np.asarray(given[name])
            if tuple(array.shape) != tuple(variable.shape):
                raise ValueError(
                    f"Keras layer {layer_name!r} {name}: shape {tuple(array.shape)}, expected {tuple(variable.shape)}"
                )
            variable.assign(array.astype(variable.dtype))


def variables_by_name(model: keras.Model, layer_name: str) -> dict[str, keras.Variable]:
    """The layer's variables by short name (a TimeDistributed contributes its inner layer's; a Bidirectional
    its two directions', prefixed ``forward/`` and ``backward/``)."""
    layer = model.get_layer(layer_name)
    if isinstance(layer, keras.layers.Bidirectional):
        groups = {"forward/": layer.forward_layer.weights, "backward/": layer.backward_layer.weights}
    else:
        groups = {"": layer.weights}
    variables = {prefix + v.name: v for prefix, weights in groups.items() for v in weights}
    if len(variables) != sum(len(weights) for weights in groups.values()):
        raise ValueError(f"Keras layer {layer_name!r} has two variables with one name: {[v.path for v in layer.weights]}")
    return variables
