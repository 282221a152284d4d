"""Where each layer's weights live in Keras' HDF5 files, as data.

Keras 3 (``model.weights.h5`` inside ``.keras``, and ``.weights.h5``): groups are named after the
layer *class* in snake case, counted per class in model order (``time_distributed``,
``time_distributed_1``, ``lstm``, ``dense_1``), never after the user's layer names; variables are
numbered in creation order under ``vars`` (the order of the weight table's Keras names):

    TimeDistributed(Conv2D / BatchNormalization / Dense)   /layers/time_distributed[_n]/layer/vars/{i}
    LSTM / GRU / SimpleRNN / ConvLSTM2D                    /layers/<class>[_n]/cell/vars/{i}
    Bidirectional                                          /layers/bidirectional[_n]/{forward,backward}_layer/cell/vars/{i}
    Conv2D / Conv3D / Dense / BatchNormalization           /layers/<class>[_n]/vars/{i}

Keras 2 / tf.keras ``.h5``: ``/model_weights/<layer name>`` lists its tensors in the attribute
``weight_names`` (``enc/lstm_cell/kernel:0``, ``bi/forward_lstm/lstm_cell/bias:0``), stored at
``/model_weights/<layer name>/<weight name>``.
"""

from __future__ import annotations

import re

from lstm2d.keras_layers import keras_layer_config
from lstm2d.spec import ModelSpec
from torch_impl.convert import weight_table
from torch_impl.files.keras_config import FileLayer

KERAS3_ROOTS = ("/layers", "/optimizer", "/vars")  # layer weights; optimizer state and model-level vars, never read
LEGACY_ROOTS = ("/model_weights", "/optimizer_weights")
CELL_CLASSES = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM2D")


def to_snake_case(name: str) -> str:
    """Keras' ``naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_groups(layers: list[FileLayer]) -> list[str]:
    """Each layer's group under ``/layers``: its class in snake case, counted per class (``dense``, ``dense_1``)."""
    used: dict[str, int] = {}
    groups = []
    for layer in layers:
        base = to_snake_case(layer.keras_class)
        used[base] = used.get(base, -1) + 1
        groups.append(base if used[base] == 0 else f"{base}_{used[base]}")
    return groups


def keras3_variable_paths(spec: ModelSpec, layers: list[FileLayer]) -> dict[str, dict[str, str]]:
    """``{spec layer name: {Keras variable name: dataset path}}`` for every layer with weights."""
    variables = {entry.name: list(entry.keras_shapes) for entry in weight_table(spec)}
    paths: dict[str, dict[str, str]] = {}
    for layer, group in zip(layers, keras3_groups(layers), strict=True):
        if layer.spec_layer is None or layer.spec_layer.name not in variables:
            continue
        names = variables[layer.spec_layer.name]
        if layer.keras_class == "Bidirectional":
            paths[layer.spec_layer.name] = {
                name: f"/layers/{group}/{name.split('/')[0]}_layer/cell/vars/{names.index(name) % (len(names) // 2)}"
                for name in names
            }
            continue
        container = {"TimeDistributed": "layer/vars", **dict.fromkeys(CELL_CLASSES, "cell/vars")}.get(layer.keras_class, "vars")
        paths[layer.spec_layer.name] = {name: f"/layers/{group}/{container}/{i}" for i, name in enumerate(names)}
    return paths


def legacy_variable_name(weight_name: str, *, bidirectional: bool) -> str:
    """A Keras 2 weight name as a weight-table name: ``enc/lstm_cell/kernel:0`` -> ``kernel``;
    in a Bidirectional, ``bi/forward_lstm/lstm_cell/bias:0`` -> ``forward/bias``."""
    parts = weight_name.split("/")
    variable = parts[-1].split(":")[0]
    if not bidirectional:
        return variable
    side = next((p.split("_")[0] for p in parts[:-1] if p.startswith(("forward_", "backward_"))), "?")
    return f"{side}/{variable}"


def file_layers_for_spec(spec: ModelSpec) -> list[FileLayer]:
    """The layers of ``keras_ref.build_model(spec)`` as a file holds them (for ``.weights.h5`` and for writing)."""
    layers = [FileLayer("frames", "InputLayer", "InputLayer")]
    for entry in spec.layer_shapes():
        config = keras_layer_config(entry.layer, entry.input, spec.data_format)
        inner = config["config"].get("layer")
        display = f"{config['class_name']}({inner['class_name']})" if inner else config["class_name"]
        layers.append(FileLayer(entry.layer.name, config["class_name"], display, entry.layer))
    return layers
