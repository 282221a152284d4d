"""A spec as the Keras model it is, written as data: each node's Keras layer (TimeDistributed where a layer runs on
every frame) and the whole model's Keras 3 config (a ``Sequential`` for a stack, else ``Functional`` with its
``inbound_nodes``), as ``config.json`` of a ``.keras`` file holds it.

``keras_ref`` builds its Keras model from :func:`layer_config`; ``torch_impl``'s ``.keras`` writer saves
:func:`model_config`. Neither imports Keras here. Reading a Keras config back is ``torch_impl.files.keras_config``.
"""

from __future__ import annotations

from typing import Any

from lstm2d.spec.base import EncodeContext, KerasConfig, Layer
from lstm2d.spec.graph import ModelSpec, Submodel, keras_dims, parse_ref, resolve_ref
from lstm2d.spec.shapes import Shape

KERAS_TENSOR = "__keras_tensor__"


def layer_config(layer: Layer, name: str, shape: Shape, data_format: str) -> KerasConfig:
    """The Keras layer for ``layer`` receiving per-sample ``shape``, named ``name``, in a model whose frames are
    ``data_format``. A layer that runs on every frame (``Layer.runs_per_frame``) becomes
    ``TimeDistributed(<layer named <name>_inner>)`` named ``name``."""
    if layer.runs_per_frame(shape):
        inner = layer.keras_config(EncodeContext(f"{name}_inner", data_format, shape.item, _encoder(data_format)))
        return {"class_name": "TimeDistributed", "config": {"name": name, "layer": inner}}
    return layer.keras_config(EncodeContext(name, data_format, shape, _encoder(data_format)))


def _encoder(data_format: str) -> Any:
    return lambda layer, name, shape: layer_config(layer, name, shape, data_format)


def serialized(config: KerasConfig, module: str = "keras.layers") -> dict[str, Any]:
    """Keras' saved form of a layer config: ``module`` and ``registered_name`` added, a wrapped layer likewise (a nested
    model's config is saved already)."""
    if "module" in config:
        return config
    arguments = dict(config["config"])
    if "layer" in arguments:
        arguments["layer"] = serialized(arguments["layer"])
    return {"module": module, "class_name": config["class_name"], "config": arguments, "registered_name": None}


def model_config(spec: ModelSpec, *, name: str | None = None) -> dict[str, Any]:
    """The Keras 3 saved config of ``spec``'s model: ``Sequential`` for a stack, ``Functional`` for a graph."""
    name = name or spec.name
    inference = spec.infer()
    input_layers = [_input_layer(spec, i.name) for i in spec.inputs]
    if spec.is_stack:
        batch_shape = input_layers[0]["config"]["batch_shape"]
        layers = [serialized(layer_config(e.layer, e.layer.name, e.input, spec.data_format)) for e in inference.nodes]
        body = {"name": name, "layers": [input_layers[0], *layers], "build_input_shape": batch_shape}
        return {"module": "keras", "class_name": "Sequential", "config": body, "registered_name": None,
                "build_config": {"input_shape": batch_shape}}  # fmt: skip
    keras_layers: dict[str, dict[str, Any]] = {}
    ordered: list[dict[str, Any]] = []
    for spec_input, input_layer in zip(spec.inputs, input_layers, strict=True):
        keras_layers[spec_input.name] = {**input_layer, "name": spec_input.name, "inbound_nodes": []}
    placed: set[str] = set()
    for entry in inference.nodes:
        for ref in (*entry.node.inputs, *([entry.node.mask] if entry.node.mask else [])):  # an input just before its first use
            source = parse_ref(ref, entry.layer.label)[0]
            if source in keras_layers and source not in placed and not keras_layers[source]["inbound_nodes"]:
                ordered.append(keras_layers[source])
                placed.add(source)
        layer = entry.layer
        if layer.name not in keras_layers:
            keras_layer = serialized(layer_config(layer, layer.name, entry.input, spec.data_format))
            keras_layer.update(name=layer.name, inbound_nodes=[])
            keras_layers[layer.name] = keras_layer
            ordered.append(keras_layer)
            placed.add(layer.name)
        keras_layers[layer.name]["inbound_nodes"].append(_inbound(spec, entry.node, inference.shapes))
    for spec_input in spec.inputs:
        if spec_input.name not in placed:
            ordered.insert(0, keras_layers[spec_input.name])
    body = {
        "name": name,
        "trainable": True,
        "layers": ordered,
        "input_layers": _one_or_list([[i.name, 0, 0] for i in spec.inputs]),
        "output_layers": _one_or_list([_output_history(spec, ref) for ref in spec.outputs]),
    }
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": body,
            "registered_name": "Functional", "build_config": {"input_shape": None}}  # fmt: skip


def _input_layer(spec: ModelSpec, name: str) -> dict[str, Any]:
    spec_input = next(i for i in spec.inputs if i.name == name)
    dims = keras_dims(spec_input.per_sample, spec.data_format) if spec_input.dtype != "bool" else spec_input.shape
    config = {"batch_shape": [None, *dims], "dtype": spec_input.dtype, "sparse": False, "name": name}
    return {"module": "keras.layers", "class_name": "InputLayer", "config": config, "registered_name": None}


def _history(ref: str, shapes: dict[str, Shape]) -> list[Any]:
    layer, call, index = parse_ref(ref, "outputs")
    return [layer, call, index or 0]


def _output_history(spec: ModelSpec, ref: str) -> list[Any]:
    """An output's ``[layer, node, tensor]`` as Keras 3 counts nodes in ``output_layers``: a nested Functional's own
    node (its inputs to its outputs) comes before its calls, so its first call is node 1."""
    layer, call, index = parse_ref(ref, "outputs")
    nested = next((n.layer for n in spec.nodes if n.layer.name == layer), None)
    own_node = isinstance(nested, Submodel) and not nested.spec.is_stack  # written as a Functional
    return [layer, call + own_node, index or 0]


def _one_or_list(histories: list[list[Any]]) -> list[Any]:
    """One ``[layer, node, tensor]`` as itself, several as a list of them: what Keras writes for ``Model(x, y)`` and
    ``Model([x1, x2], [y1, y2])`` (a one-element list would make a nested model return a list)."""
    return histories[0] if len(histories) == 1 else histories


def _tensor(spec: ModelSpec, ref: str, shapes: dict[str, Shape]) -> dict[str, Any]:
    shape = shapes[resolve_ref(ref, shapes, "node")]
    dtype = next((i.dtype for i in spec.inputs if i.name == ref), "float32")
    dims = shape.dims if dtype == "bool" else keras_dims(shape, spec.data_format)
    return {
        "class_name": KERAS_TENSOR,
        "config": {"shape": [None, *dims], "dtype": dtype, "keras_history": _history(ref, shapes)},
    }


def _inbound(spec: ModelSpec, node: Any, shapes: dict[str, Shape]) -> dict[str, Any]:
    tensors = [_tensor(spec, ref, shapes) for ref in node.inputs]
    args: list[Any] = (
        [tensors] if node.layer.min_inputs > 1 or (isinstance(node.layer, Submodel) and len(tensors) > 1) else tensors
    )
    kwargs = {"mask": _tensor(spec, node.mask, shapes)} if node.mask else {}
    return {"args": args, "kwargs": kwargs}
