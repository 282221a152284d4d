"""Writing a Keras 3 ``.keras`` archive from a spec and Keras-layout weights, as data (no Keras import).

The config is the Sequential of the layers ``keras_ref.build_model`` builds (``lstm2d.keras_layers``,
one table for both); the weights go where Keras 3 looks for them (see ``layout``).
``keras.saving.load_model`` opens the result; the parity tests check that it computes what the torch
model computes.
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

from lstm2d.keras_layers import KerasConfig, activations_in, keras_layer_config
from lstm2d.spec import ModelSpec
from torch_impl.convert import KerasWeights
from torch_impl.files.archive import CONFIG, METADATA, WEIGHTS
from torch_impl.files.errors import UnsupportedModelError
from torch_impl.files.layout import file_layers_for_spec, keras3_groups, keras3_variable_paths
from torch_impl.model import Lstm2dNet
from torch_impl.weights import export_keras_weights

KERAS_FORMAT_VERSION = "3.8.0"  # the oldest Keras whose .keras format this config matches


def write_keras_archive(path: str | os.PathLike[str] | BinaryIO, spec: ModelSpec, weights: KerasWeights) -> None:
    """Write ``spec`` with ``weights`` (``{layer: {variable: array}}``, Keras layout) as a ``.keras`` file."""
    config = keras_config(spec)  # first: it refuses what Keras 3 cannot express, before a file is created
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S"), "producer": "lstm2d"}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA, json.dumps(metadata))
        archive.writestr(CONFIG, json.dumps(config))
        archive.writestr(WEIGHTS, _weights_h5(spec, weights))


def keras_config(spec: ModelSpec) -> dict[str, Any]:
    """The Keras 3 Sequential config of ``spec``."""
    batch_shape = [None, *spec.keras_input_shape]
    layers = [
        _serialised({"class_name": "InputLayer", "config": {"batch_shape": batch_shape, "dtype": "float32", "name": "frames"}})
    ]
    for entry in spec.layer_shapes():
        config = keras_layer_config(entry.layer, entry.input, spec.data_format)
        if "hard_sigmoid_keras2" in activations_in(config):
            raise UnsupportedModelError(
                f"layer {entry.layer.name!r} uses Keras 2's hard_sigmoid (clip(0.2 x + 0.5, 0, 1)), which Keras 3 has no "
                "built-in for (its hard_sigmoid is relu6(x + 3) / 6); a .keras file would need a custom object"
            )
        layers.append(_serialised(config))
    body = {"name": spec.name, "layers": layers, "build_input_shape": batch_shape}
    return {
        **_serialised({"class_name": "Sequential", "config": body}, module="keras"),
        "build_config": {"input_shape": batch_shape},
    }


def _serialised(config: KerasConfig, module: str = "keras.layers") -> dict[str, Any]:
    """Keras' serialised form: module and registered_name added, the wrapped layer (if any) likewise."""
    arguments = dict(config["config"])
    if "layer" in arguments:
        arguments["layer"] = _serialised(arguments["layer"])
    return {"module": module, "class_name": config["class_name"], "config": arguments, "registered_name": None}


def _weights_h5(spec: ModelSpec, weights: KerasWeights) -> bytes:
    """Keras 3's layout: a group per layer (class-named, counted), variables numbered under ``vars``."""
    layers = file_layers_for_spec(spec)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        for layer, group in zip(layers, keras3_groups(layers), strict=True):  # empty groups too, as Keras writes them
            h5.require_group(f"layers/{group}").require_group("vars").attrs["name"] = layer.name
        h5.require_group("vars")
        for name, variables in keras3_variable_paths(spec, layers).items():
            for variable, dataset in variables.items():
                h5.create_dataset(dataset, data=np.asarray(weights[name][variable], dtype=np.float32))
    return buffer.getvalue()


def to_keras(model: Lstm2dNet, path: str | os.PathLike[str] | BinaryIO) -> None:
    """Write a torch model as a Keras 3 ``.keras`` file (``keras.saving.load_model`` opens it; no Keras needed here)."""
    write_keras_archive(path, model.spec, export_keras_weights(model))
