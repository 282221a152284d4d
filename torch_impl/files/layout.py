"""Where each layer's weights live in Keras' HDF5 files, as data.

Keras 3 (``model.weights.h5`` inside ``.keras``, and ``.weights.h5``): groups are named after the
layer *class* in snake case, counted per class in model order (``time_distributed``,
``time_distributed_1``, ``lstm``, ``dense_1``), never after the user's layer names; variables are
numbered in creation order under ``vars`` (the order of the weight table's Keras names):

    TimeDistributed(Conv2D / BatchNormalization / Dense)   /layers/time_distributed[_n]/layer/vars/{i}
    LSTM / GRU / SimpleRNN / ConvLSTM1D / ConvLSTM2D       /layers/<class>[_n]/cell/vars/{i}
    Bidirectional                                          /layers/bidirectional[_n]/{forward,backward}_layer/cell/vars/{i}
    Conv2D / Conv3D / Dense / BatchNormalization           /layers/<class>[_n]/vars/{i}
    a nested model                                         /layers/<class>[_n]/layers/<its layers' groups, counted anew>
    a model in TimeDistributed                             /layers/time_distributed[_n]/layer/layers/<its layers' groups>

Keras 2 / tf.keras ``.h5``: ``/model_weights/<layer name>`` lists its tensors in the attribute
``weight_names`` (``enc/lstm_cell/kernel:0``, ``bi/forward_lstm/lstm_cell/bias:0``), stored at
``/model_weights/<layer name>/<weight name>``; a nested model's layers are listed under the outer layer's
group, their names first (``td`` lists ``conv2d/kernel:0``).
"""

from __future__ import annotations

import re

from lstm2d.spec import ModelSpec
from lstm2d.spec.keras_graph import model_config
from torch_impl.files.keras_config import FileLayer, parse_model_config
from torch_impl.weight_table import weight_table

KERAS3_ROOTS = ("/layers", "/optimizer", "/vars")  # layer weights; optimizer state and model-level vars, never read
LEGACY_ROOTS = ("/model_weights", "/optimizer_weights")
CELL_CLASSES = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D")


def to_snake_case(name: str) -> str:
    """Keras' ``naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_groups(layers: list[FileLayer]) -> list[str | None]:
    """Each layer's group in its model: its class in snake case, counted per class (``dense``, ``dense_1``); None for
    a layer without one (a Sequential's InputLayer)."""
    used: dict[str, int] = {}
    groups: list[str | None] = []
    for layer in layers:
        if not layer.has_group:
            groups.append(None)
            continue
        base = to_snake_case(layer.keras_class)
        used[base] = used.get(base, -1) + 1
        groups.append(base if used[base] == 0 else f"{base}_{used[base]}")
    return groups


def _container(keras_class: str | None) -> str:
    """Where a layer keeps its variables inside its group."""
    return "cell/vars" if keras_class in CELL_CLASSES else "vars"


def keras3_variable_paths(spec: ModelSpec, layers: list[FileLayer]) -> dict[str, dict[str, str]]:
    """``{layer path: {Keras variable name: dataset path}}`` for every layer with weights, nested ones included."""
    variables = {entry.name: list(entry.keras_shapes) for entry in weight_table(spec)}
    paths: dict[str, dict[str, str]] = {}
    _collect(layers, "/layers", "", variables, paths)
    return paths


def _collect(
    layers: list[FileLayer], root: str, prefix: str, variables: dict[str, list[str]], paths: dict[str, dict[str, str]]
) -> None:
    for layer, group in zip(layers, keras3_groups(layers), strict=True):
        if layer.spec_layer is None or group is None:
            continue
        base = f"{root}/{group}"
        path = prefix + layer.spec_layer.name
        if layer.children:  # a nested model, directly or in a TimeDistributed
            inner_root = f"{base}/layer/layers" if layer.keras_class == "TimeDistributed" else f"{base}/layers"
            _collect(layer.children, inner_root, path + "/", variables, paths)
            continue
        names = variables.get(path)
        if not names:
            continue
        if layer.keras_class == "Bidirectional":
            half = len(names) // 2
            paths[path] = {name: f"{base}/{name.split('/')[0]}_layer/cell/vars/{names.index(name) % half}" for name in names}
            continue
        container = (
            "layer/" + _container(layer.inner_class) if layer.keras_class == "TimeDistributed" else _container(layer.keras_class)
        )
        paths[path] = {name: f"{base}/{container}/{i}" for i, name in enumerate(names)}


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
    """The layers of ``spec``'s Keras model as a file holds them (for ``.weights.h5`` and for writing): what reading the
    config lstm2d writes gives."""
    return parse_model_config(model_config(spec), keras_version=None, where=spec.name).layers
