"""The reference Keras 3 model built from a :class:`~lstm2d.spec.ModelSpec` (any backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from lstm2d.spec import KerasConfig, Layer, ModelSpec, Shape, Submodel, TimeDistributed, keras_dims, resolve_ref
from lstm2d.spec.keras_graph import layer_config


def build_model(spec: ModelSpec, *, name: str | None = None) -> keras.Model:
    """A Functional Keras model for ``spec``: one ``keras.Input`` per spec input (its name; frames ``(batch, time,
    height, width, channels)``, or ``(batch, time, channels, height, width)`` for a ``channels_first`` spec), and each
    node a call of the Keras layer ``lstm2d.spec.keras_graph`` names for its layer (2D layers on frames wrapped in
    ``TimeDistributed``; a shared layer is one Keras layer called again; a nested model a Keras model). One input
    and one output are given as such, not as lists, so ``model(x)`` works as for a Sequential.
    """
    tensors: dict[str, Any] = {}
    for spec_input in spec.inputs:
        shape = spec_input.shape if spec_input.dtype == "bool" else keras_dims(spec_input.per_sample, spec.data_format)
        tensors[spec_input.name] = keras.Input(shape=shape, name=spec_input.name, dtype=spec_input.dtype)
    built: dict[str, keras.layers.Layer] = {}
    inference = spec.infer()
    for entry in inference.nodes:
        layer = entry.layer
        if layer.name not in built:
            built[layer.name] = _keras_layer(layer, entry.input, spec.data_format)
        args = [tensors[resolve_ref(ref, inference.shapes, spec.name)] for ref in entry.node.inputs]
        call_inputs = args if layer.min_inputs > 1 or len(args) > 1 else args[0]
        kwargs = {"mask": tensors[entry.node.mask]} if entry.node.mask else {}
        out = built[layer.name](call_inputs, **kwargs)
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        for ref, tensor in zip(entry.output_refs, outputs, strict=True):
            tensors[ref] = tensor
    inputs = [tensors[i.name] for i in spec.inputs]
    outputs = [tensors[resolve_ref(ref, inference.shapes, spec.name)] for ref in spec.outputs]
    return keras.Model(
        inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs, name=name or spec.name
    )


def _keras_layer(layer: Layer, shape: Shape, data_format: str) -> keras.layers.Layer:
    """The Keras layer for ``layer`` receiving per-sample ``shape``; nested models are built as Keras models."""
    if isinstance(layer, Submodel):
        return build_model(layer.spec, name=layer.name)
    if isinstance(layer, TimeDistributed) and isinstance(layer.layer, Submodel):
        return keras.layers.TimeDistributed(build_model(layer.layer.spec, name=layer.layer.name or None), name=layer.name)
    return construct(layer_config(layer, layer.name, shape, data_format))


def construct(config: KerasConfig) -> keras.layers.Layer:
    """The Keras layer for a config from ``lstm2d.spec.keras_graph`` (the wrapped layer constructed first)."""
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
