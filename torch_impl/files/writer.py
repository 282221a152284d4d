"""Writing a Keras 3 ``.keras`` archive from a spec and Keras-layout weights, as data (no Keras import).

The config is the Sequential that ``keras_ref.build_model`` describes (TimeDistributed per-frame
layers, a TimeDistributed Flatten named ``flatten``, LSTM and Dense layers with the spec's names);
the weights go where Keras 3 looks for them (see ``layout``). ``keras.saving.load_model`` opens
the result; the parity tests check that it computes what the torch model computes.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from typing import Any, BinaryIO

import h5py
import numpy as np

from lstm2d.spec import Conv2D, ModelSpec, Pool2D
from torch_impl.convert import KerasWeights
from torch_impl.files.archive import CONFIG, METADATA, WEIGHTS
from torch_impl.files.layout import file_layers_for_spec, keras3_variable_paths, to_snake_case
from torch_impl.model import Lstm2dNet
from torch_impl.weights import export_keras_weights

KERAS_FORMAT_VERSION = "3.8.0"  # the oldest Keras whose .keras format this config matches


def write_keras_archive(path: str | os.PathLike[str] | BinaryIO, spec: ModelSpec, weights: KerasWeights) -> None:
    """Write ``spec`` with ``weights`` (``{layer: {variable: array}}``, Keras layout) as a ``.keras`` file."""
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S"), "producer": "lstm2d"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA, json.dumps(metadata))
        archive.writestr(CONFIG, json.dumps(keras_config(spec)))
        archive.writestr(WEIGHTS, _weights_h5(spec, weights, buffer))


def keras_config(spec: ModelSpec) -> dict[str, Any]:
    """The Keras 3 Sequential config of ``spec``."""
    inp = spec.input
    batch_shape = [None, inp.timesteps, inp.height, inp.width, inp.channels]
    layers: list[dict[str, Any]] = [
        _object("keras.layers", "InputLayer", {"batch_shape": batch_shape, "dtype": "float32", "name": "frames"})
    ]
    for layer in spec.frontend:
        layers.append(_time_distributed(layer.name, _frame_layer(layer)))
    layers.append(
        _time_distributed(
            "flatten", _object("keras.layers", "Flatten", {"name": "flatten_inner", "data_format": "channels_last"})
        )
    )
    for layer in spec.recurrent:
        layers.append(
            _object(
                "keras.layers", "LSTM", {"name": layer.name, "units": layer.units, "return_sequences": layer.return_sequences}
            )
        )
    for layer in spec.head:
        layers.append(
            _object("keras.layers", "Dense", {"name": layer.name, "units": layer.units, "activation": layer.activation})
        )
    config = {"name": spec.name, "layers": layers, "build_input_shape": batch_shape}
    return {**_object("keras", "Sequential", config), "build_config": {"input_shape": batch_shape}}


def _object(module: str, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def _time_distributed(name: str, inner: dict[str, Any]) -> dict[str, Any]:
    return _object("keras.layers", "TimeDistributed", {"name": name, "layer": inner})


def _frame_layer(layer: Conv2D | Pool2D) -> dict[str, Any]:
    if isinstance(layer, Conv2D):
        return _object("keras.layers", "Conv2D", {
            "name": f"{layer.name}_inner", "filters": layer.filters, "kernel_size": list(layer.kernel_size),
            "strides": list(layer.strides), "padding": layer.padding, "activation": layer.activation,
            "data_format": "channels_last",
        })  # fmt: skip
    class_name = "MaxPooling2D" if layer.mode == "max" else "AveragePooling2D"
    return _object("keras.layers", class_name, {
        "name": f"{layer.name}_inner", "pool_size": list(layer.pool_size),
        "strides": list(layer.strides), "padding": layer.padding, "data_format": "channels_last",
    })  # fmt: skip


def _weights_h5(spec: ModelSpec, weights: KerasWeights, buffer: io.BytesIO) -> bytes:
    """Keras 3's layout: a group per layer (class-named, counted), variables numbered under ``vars``."""
    layers = file_layers_for_spec(spec)
    paths = keras3_variable_paths(layers)
    with h5py.File(buffer, "w") as h5:
        used: dict[str, int] = {}
        for layer in layers:  # empty groups too, as Keras writes them
            base = to_snake_case(layer.weights_class)
            used[base] = used.get(base, -1) + 1
            group = h5.require_group(f"layers/{base if used[base] == 0 else f'{base}_{used[base]}'}")
            group.require_group("vars").attrs["name"] = layer.name
        h5.require_group("vars")
        for name, variables in paths.items():
            for variable, dataset in variables.items():
                h5.create_dataset(dataset, data=np.asarray(weights[name][variable], dtype=np.float32))
    return buffer.getvalue()


def to_keras(model: Lstm2dNet, path: str | os.PathLike[str] | BinaryIO) -> None:
    """Write a torch model as a Keras 3 ``.keras`` file (``keras.saving.load_model`` opens it; no Keras needed here)."""
    write_keras_archive(path, model.spec, export_keras_weights(model))
