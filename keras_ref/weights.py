"""Keras model weights as ``{layer path: {variable name: numpy array}}`` (Keras layout).

A layer's path is its name, or ``<model>/<layer>`` inside a nested model (``<wrapper>/<layer>`` for a model inside
TimeDistributed), as in ``torch_impl.weight_table``. Variable names are Keras' own (``kernel``, ``recurrent_kernel``,
``bias``, ``gamma``, ``moving_mean``, ...); a ``Bidirectional``'s are prefixed with the direction: ``forward/kernel``,
``backward/bias``.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from lstm2d.spec import ModelSpec, Submodel, TimeDistributed

KerasWeights = dict[str, dict[str, np.ndarray]]
"""``{layer path: {variable name: array}}`` in Keras layout."""


def get_weights(model: keras.Model, spec: ModelSpec) -> KerasWeights:
    """Every weight of the spec's layers, keyed by layer path and variable name."""
    return {
        path: {name: keras.ops.convert_to_numpy(v.value) for name, v in variables.items()}
        for path, variables in variables_by_path(model, spec).items()
        if variables
    }


def set_weights(model: keras.Model, spec: ModelSpec, weights: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Assign ``weights`` to the model; every variable must be given exactly once, with its exact shape."""
    expected = variables_by_path(model, spec)
    extra = sorted(path for path in weights if not expected.get(path) and len(weights[path]) > 0)
    if extra:
        raise ValueError(f"weights given for layers without weights in the Keras model: {extra}")
    for path, variables in expected.items():
        given = weights.get(path, {})
        missing = sorted(set(variables) - set(given))
        unexpected = sorted(set(given) - set(variables))
        if missing or unexpected:
            raise ValueError(f"Keras layer {path!r}: missing weights {missing}, unexpected {unexpected}")
        for name, variable in variables.items():
            array = np.asarray(given[name])
            if tuple(array.shape) != tuple(variable.shape):
                raise ValueError(f"Keras layer {path!r} {name}: shape {tuple(array.shape)}, expected {tuple(variable.shape)}")
            variable.assign(array.astype(variable.dtype))
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()  # it computes with tensors made from its variables, as Keras' own loading remakes them


def variables_by_path(model: keras.Model, spec: ModelSpec, prefix: str = "") -> dict[str, dict[str, keras.Variable]]:
    """Every spec layer's variables by short name, at every depth of nested models."""
    out: dict[str, dict[str, keras.Variable]] = {}
    for layer in spec.layers:
        keras_layer = model.get_layer(layer.name)
        path = prefix + layer.name
        if isinstance(layer, Submodel):
            out.update(variables_by_path(keras_layer, layer.spec, path + "/"))
        elif isinstance(layer, TimeDistributed) and isinstance(layer.layer, Submodel):
            out.update(variables_by_path(keras_layer.layer, layer.layer.spec, path + "/"))
        else:
            out[path] = _variables(keras_layer, path)
    return out


def _variables(layer: keras.layers.Layer, path: str) -> dict[str, keras.Variable]:
    """One layer's variables by short name (a TimeDistributed contributes its inner layer's; a Bidirectional its two
    directions', prefixed ``forward/`` and ``backward/``)."""
    if isinstance(layer, keras.layers.Bidirectional):
        groups = {"forward/": layer.forward_layer.weights, "backward/": layer.backward_layer.weights}
    else:
        groups = {"": layer.weights}
    variables = {prefix + v.name: v for prefix, weights in groups.items() for v in weights}
    if len(variables) != sum(len(weights) for weights in groups.values()):
        raise ValueError(f"Keras layer {path!r} has two variables with one name: {[v.path for v in layer.weights]}")
    return variables
