"""Where each layer's weights live in Keras' HDF5 files, as data.

Keras 3 (``model.weights.h5`` inside ``.keras``, and ``.weights.h5``): groups are named after the
layer *class* in snake case, counted per class in model order (``time_distributed``,
``time_distributed_1``, ``lstm``, ``dense_1``), never after the user's layer names; variables are
numbered in creation order under ``vars``:

    TimeDistributed(Conv2D / Dense)  /layers/time_distributed[_n]/layer/vars/{0: kernel, 1: bias}
    LSTM                              /layers/lstm[_n]/cell/vars/{0: kernel, 1: recurrent_kernel, 2: bias}
    Dense                             /layers/dense[_n]/vars/{0: kernel, 1: bias}

Keras 2 / tf.keras ``.h5``: ``/model_weights/<layer name>`` lists its tensors in the attribute
``weight_names`` (``enc/lstm_cell/kernel:0``), stored at ``/model_weights/<layer name>/<weight name>``.
"""

from __future__ import annotations

import re

from lstm2d.spec import Conv2D, ModelSpec
from torch_impl.files.keras_config import FileLayer

VARIABLES = {
    "conv2d": ("kernel", "bias"),
    "dense": ("kernel", "bias"),
    "lstm": ("kernel", "recurrent_kernel", "bias"),
}
KERAS3_ROOTS = ("/layers", "/optimizer", "/vars")  # layer weights; optimizer state and model-level vars, never read
LEGACY_ROOTS = ("/model_weights", "/optimizer_weights")


def to_snake_case(name: str) -> str:
    """Keras' ``naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_variable_paths(layers: list[FileLayer]) -> dict[str, dict[str, str]]:
    """``{spec layer name: {variable: dataset path}}`` for the layers that have weights."""
    used: dict[str, int] = {}
    paths: dict[str, dict[str, str]] = {}
    for layer in layers:
        base = to_snake_case(layer.weights_class)
        used[base] = used.get(base, -1) + 1
        group = base if used[base] == 0 else f"{base}_{used[base]}"
        if layer.spec_name is None:
            continue
        if layer.weights_class == "TimeDistributed":
            container = f"/layers/{group}/layer/vars"
        elif layer.role == "lstm":
            container = f"/layers/{group}/cell/vars"
        else:
            container = f"/layers/{group}/vars"
        paths[layer.spec_name] = {var: f"{container}/{i}" for i, var in enumerate(VARIABLES[layer.role])}
    return paths


def file_layers_for_spec(spec: ModelSpec) -> list[FileLayer]:
    """The layers of ``keras_ref.build_model(spec)`` as a file holds them (for ``.weights.h5`` and for writing)."""
    layers = [FileLayer("frames", "InputLayer", "InputLayer", "input")]
    for layer in spec.frontend:
        is_conv = isinstance(layer, Conv2D)
        inner = "Conv2D" if is_conv else ("MaxPooling2D" if layer.mode == "max" else "AveragePooling2D")
        role = "conv2d" if is_conv else "pool2d"
        layers.append(
            FileLayer(layer.name, f"TimeDistributed({inner})", "TimeDistributed", role, layer.name if is_conv else None)
        )
    layers.append(FileLayer("flatten", "TimeDistributed(Flatten)", "TimeDistributed", "flatten"))
    layers += [FileLayer(layer.name, "LSTM", "LSTM", "lstm", layer.name) for layer in spec.recurrent]
    layers += [FileLayer(layer.name, "Dense", "Dense", "dense", layer.name) for layer in spec.head]
    return layers
