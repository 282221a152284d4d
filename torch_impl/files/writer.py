"""Writing a Keras 3 ``.keras`` archive from a spec and Keras-layout weights, as data (no Keras import).

The config is the Keras model ``keras_ref.build_model`` builds (``lstm2d.spec.keras_graph``, one description for
both): a ``Sequential`` for a stack, ``Functional`` for a graph; the weights go where Keras 3 looks for them
(see ``layout``). ``keras.saving.load_model`` opens the result; the parity tests check that it computes what
the torch model computes.
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

from lstm2d.spec import ModelSpec
from lstm2d.spec.keras_graph import model_config
from torch_impl.files.archive import CONFIG, METADATA, WEIGHTS
from torch_impl.files.errors import UnsupportedModelError
from torch_impl.files.keras_config import FileLayer
from torch_impl.files.layout import file_layers_for_spec, keras3_groups, keras3_variable_paths
from torch_impl.model import Lstm2dNet
from torch_impl.weight_table import INTEGER_VARIABLES, KerasWeights
from torch_impl.weights import export_keras_weights

KERAS_FORMAT_VERSION = "3.8.0"  # the oldest Keras whose .keras format this config matches


def write_keras_archive(path: str | os.PathLike[str] | BinaryIO, spec: ModelSpec, weights: KerasWeights) -> None:
    """Write ``spec`` with ``weights`` (``{layer path: {variable: array}}``, Keras layout) as a ``.keras`` file."""
    config = keras_config(spec)  # first: it refuses what Keras 3 cannot express, before a file is created
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S"), "producer": "lstm2d"}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA, json.dumps(metadata))
        archive.writestr(CONFIG, json.dumps(config))
        archive.writestr(WEIGHTS, _weights_h5(spec, weights))


def keras_config(spec: ModelSpec) -> dict[str, Any]:
    """The Keras 3 config of ``spec``'s model (``Sequential`` for a stack, else ``Functional``)."""
    for layer in spec.all_layers():
        if "hard_sigmoid_keras2" in layer.activations():
            raise UnsupportedModelError(
                f"layer {layer.name!r} uses Keras 2's hard_sigmoid (clip(0.2 x + 0.5, 0, 1)), which Keras 3 has no "
                "built-in for (its hard_sigmoid is relu6(x + 3) / 6); a .keras file would need a custom object"
            )
    config = model_config(spec)
    if config["class_name"] == "Sequential":
        config["build_config"] = {"input_shape": config["config"]["build_input_shape"]}
    return config


def _weights_h5(spec: ModelSpec, weights: KerasWeights) -> bytes:
    """Keras 3's layout: a group per layer (class-named, counted per model), variables numbered under ``vars``."""
    layers = file_layers_for_spec(spec)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        _groups(h5, layers, "layers")  # empty groups too, as Keras writes them
        h5.require_group("vars")
        for name, variables in keras3_variable_paths(spec, layers).items():
            for variable, dataset in variables.items():
                dtype = np.int64 if variable in INTEGER_VARIABLES else np.float32
                h5.create_dataset(dataset, data=np.asarray(weights[name][variable]).astype(dtype))
    return buffer.getvalue()


def _groups(h5: h5py.File, layers: list[FileLayer], root: str) -> None:
    for layer, group in zip(layers, keras3_groups(layers), strict=True):
        if group is None:
            continue
        base = f"{root}/{group}"
        h5.require_group(base).require_group("vars").attrs["name"] = layer.name
        if layer.keras_class == "TimeDistributed":
            h5.require_group(f"{base}/layer/vars")  # the wrapped layer's (or model's) own, weights or not
        if layer.children:
            _groups(h5, layer.children, f"{base}/layer/layers" if layer.keras_class == "TimeDistributed" else f"{base}/layers")


def to_keras(model: Lstm2dNet, path: str | os.PathLike[str] | BinaryIO) -> None:
    """Write a torch model as a Keras 3 ``.keras`` file (``keras.saving.load_model`` opens it; no Keras needed here)."""
    write_keras_archive(path, model.spec, export_keras_weights(model))
