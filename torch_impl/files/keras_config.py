"""A Keras model config (Keras 3 ``config.json`` or Keras 2 ``model_config``), read as data, into a ModelSpec.

Only linear models are read: Sequential, or Functional where every layer takes the previous
one's output. Each layer is reported (:class:`FileLayer`) with what it becomes in the spec, or
why it cannot; :func:`spec_from_config` refuses the model if any layer is unsupported, naming
all of them. Nothing named in the config is imported or called.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from lstm2d.spec import ACTIVATIONS, LSTM, Conv2D, Dense, InputSpec, ModelSpec, Pool2D, SpecError
from torch_impl.files.errors import ModelFileError, UnsupportedModelError

SUPPORTED = (
    "InputLayer; TimeDistributed of Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dropout (before the LSTM) "
    "or Dense (after it); Reshape to (time, features); LSTM; Dense; Dropout"
)
_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


@dataclass
class FileLayer:
    """One layer of the file's model, as lstm2d sees it."""

    name: str  # the layer's name in the file
    class_name: str  # e.g. "TimeDistributed(Conv2D)"
    weights_class: str  # the class whose variables hold the weights (Keras 3 h5 naming), e.g. "TimeDistributed"
    role: str  # input, conv2d, pool2d, flatten, lstm, dense, dropout, unsupported
    spec_name: str | None = None  # the spec layer it becomes, if it has weights
    problems: list[str] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ParsedConfig:
    spec: ModelSpec | None  # None when any layer is unsupported
    layers: list[FileLayer]
    keras_version: str | None


def parse_model_config(config: dict[str, Any], *, keras_version: str | None, where: str) -> ParsedConfig:
    """Every layer with its role; the spec when all are supported."""
    class_name = config.get("class_name")
    body = config.get("config")
    if class_name not in ("Sequential", "Functional", "Model") or not isinstance(body, dict):
        raise UnsupportedModelError(f"{where}: top-level object is {class_name!r}; expected a Sequential or Functional model")
    raw_layers = body.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ModelFileError(f"{where}: the model config lists no layers")
    if class_name != "Sequential":
        _check_linear(raw_layers, body, where)
    builder = _SpecBuilder(where, body.get("name"))
    if class_name == "Sequential" and _class(raw_layers[0]) != "InputLayer":
        builder.input_from_shape(body.get("build_input_shape") or _first_batch_shape(raw_layers[0]), "(build_input_shape)")
    for raw in raw_layers:
        builder.add(raw)
    return builder.finish(keras_version)


def spec_from_config(config: dict[str, Any], *, keras_version: str | None, where: str) -> tuple[ModelSpec, list[FileLayer]]:
    parsed = parse_model_config(config, keras_version=keras_version, where=where)
    bad = [layer for layer in parsed.layers if not layer.supported]
    if bad or parsed.spec is None:
        lines = "\n".join(f"  - {layer.name!r} ({layer.class_name}): {'; '.join(layer.problems)}" for layer in bad)
        raise UnsupportedModelError(f"{where}: layers lstm2d cannot convert:\n{lines}\nSupported: {SUPPORTED}")
    return parsed.spec, parsed.layers


def _class(raw: Any) -> str:
    return raw.get("class_name", "?") if isinstance(raw, dict) else "?"


def _config(raw: dict[str, Any]) -> dict[str, Any]:
    config = raw.get("config")
    return config if isinstance(config, dict) else {}


def _first_batch_shape(raw: Any) -> Any:
    config = _config(raw) if isinstance(raw, dict) else {}
    return config.get("batch_input_shape") or config.get("batch_shape")


def _check_linear(raw_layers: list[Any], body: dict[str, Any], where: str) -> None:
    """Each layer's single input must be the previous layer's output (Keras 3 and Keras 2 node formats)."""
    names = [_config(raw).get("name", raw.get("name")) if isinstance(raw, dict) else None for raw in raw_layers]
    for index, raw in enumerate(raw_layers[1:], start=1):
        sources = _inbound_layer_names(raw.get("inbound_nodes") if isinstance(raw, dict) else None)
        if sources != [names[index - 1]]:
            raise UnsupportedModelError(
                f"{where}: layer {names[index]!r} takes {sources or 'no inputs'}, not just the previous layer "
                f"{names[index - 1]!r}; lstm2d reads linear models only (Sequential, or a chain of layers)"
            )
    outputs = body.get("output_layers")
    if outputs is not None and _history_names(outputs) != [names[-1]]:
        raise UnsupportedModelError(f"{where}: the model's outputs are {outputs}; expected the last layer {names[-1]!r} alone")


def _inbound_layer_names(nodes: Any) -> list[str]:
    if not isinstance(nodes, list):
        return []
    found: list[str] = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [keras_tensor...], "kwargs": {...}}
            found += _history_names(node.get("args", []))
        elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            found += [item[0] for item in node if isinstance(item, list) and item and isinstance(item[0], str)]
    return found


def _history_names(value: Any) -> list[str]:
    if isinstance(value, dict):
        history = _config(value).get("keras_history")
        if isinstance(history, list) and history and isinstance(history[0], str):
            return [history[0]]
        return [name for child in value.values() for name in _history_names(child)]
    if isinstance(value, list):
        if len(value) == 3 and isinstance(value[0], str) and all(isinstance(v, int) for v in value[1:]):
            return [value[0]]
        return [name for child in value for name in _history_names(child)]
    return []


class _SpecBuilder:
    """Reads layers in order; stages: frontend -> flattened -> recurrent -> head."""

    def __init__(self, where: str, model_name: Any) -> None:
        self.where = where
        self.model_name = str(model_name) if model_name else "keras-model"
        self.input: InputSpec | None = None
        self.frontend: list[Conv2D | Pool2D] = []
        self.recurrent: list[LSTM] = []
        self.head: list[Dense] = []
        self.layers: list[FileLayer] = []
        self.stage = "frontend"
        self.used_names: set[str] = {"flatten"}

    # -- input ----------------------------------------------------------------------

    def input_from_shape(self, shape: Any, origin: str) -> str | None:
        """Set the input from a batch shape ``[None, T, H, W, C]``; return a problem or None."""
        if not (isinstance(shape, list) and len(shape) == 5 and all(d is None or isinstance(d, int) for d in shape)):
            return (
                f"input shape {shape} {origin}: expected (batch, time, height, width, channels); lstm2d models read "
                "sequences of 2D grids with a channel axis"
            )
        _, timesteps, height, width, channels = shape
        if None in (height, width, channels):
            return f"input shape {shape}: height, width and channels must be fixed"
        try:
            self.input = InputSpec(timesteps, height, width, channels)
        except SpecError as exc:
            return str(exc)
        return None

    # -- layers ---------------------------------------------------------------------

    def add(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise ModelFileError(f"{self.where}: a layer entry is {type(raw).__name__}, expected an object")
        outer = _class(raw)
        config = _config(raw)
        name = str(config.get("name", raw.get("name", "?")))
        inner_raw = config.get("layer") if outer == "TimeDistributed" else None
        inner = _class(inner_raw) if isinstance(inner_raw, dict) else None
        display = f"TimeDistributed({inner})" if inner else outer
        layer = FileLayer(name, display, outer, "unsupported")
        self.layers.append(layer)
        problems = layer.problems
        dtype = _dtype_name(config.get("dtype"))
        if dtype not in (None, "float32"):
            problems.append(f"dtype policy {dtype!r}: only float32 is supported")

        if outer == "InputLayer":
            layer.role = "input"
            if problem := self.input_from_shape(config.get("batch_shape") or config.get("batch_input_shape"), "(InputLayer)"):
                problems.append(problem)
            return
        if self.input is None and not problems:
            problems.append("no input shape before this layer: the model needs an InputLayer or a build_input_shape")
            return
        if outer == "Dropout" or inner == "Dropout":
            layer.role = "dropout"  # identity at inference
            return
        if outer == "TimeDistributed" and inner in ("Conv2D", "MaxPooling2D", "AveragePooling2D"):
            self._frame_layer(layer, inner, _config(inner_raw))
        elif outer == "TimeDistributed" and inner == "Flatten":
            self._flatten(layer, _config(inner_raw))
        elif outer == "Reshape":
            self._reshape(layer, config)
        elif outer == "LSTM":
            self._lstm(layer, config)
        elif outer == "Dense" or (outer == "TimeDistributed" and inner == "Dense"):
            self._dense(layer, _config(inner_raw) if inner else config)
        elif outer in ("Flatten", "Conv2D", "MaxPooling2D", "AveragePooling2D"):
            problems.append(
                f"{outer} outside TimeDistributed works on the whole (time, height, width, channels) sample, so the "
                "time axis is lost before the LSTM ('expected ndim=3, found ndim=2'); wrap per-frame layers in TimeDistributed"
            )
        else:
            problems.append(f"{display} is not supported")

    def _frame_layer(self, layer: FileLayer, inner: str, config: dict[str, Any]) -> None:
        if self.stage != "frontend":
            layer.problems.append(f"per-frame {inner} after the frames were flattened is not supported")
            return
        _expect(layer, config, allow={None}, data_format="channels_last")
        if inner == "Conv2D":
            _expect(layer, config, dilation_rate=[1, 1], groups=1, use_bias=True)
            activation = _activation(layer, config)
            built = _build(layer, lambda: Conv2D(
                config.get("filters"), _tuple(config.get("kernel_size")), strides=_tuple(config.get("strides", [1, 1])),
                padding=config.get("padding", "valid"), activation=activation, name=self._name(layer),
            ))  # fmt: skip
            layer.role = "conv2d"
        else:
            strides = config.get("strides")
            built = _build(layer, lambda: Pool2D(
                "max" if inner == "MaxPooling2D" else "avg", _tuple(config.get("pool_size", [2, 2])),
                strides=None if strides is None else _tuple(strides), padding=config.get("padding", "valid"),
                name=self._name(layer),
            ))  # fmt: skip
            layer.role = "pool2d"
        if built is not None and not layer.problems:
            self.frontend.append(built)
            layer.spec_name = built.name if layer.role == "conv2d" else None
            self._check_frontend(layer)

    def _check_frontend(self, layer: FileLayer) -> None:
        try:
            ModelSpec(self.input, frontend=tuple(self.frontend)).frame_shapes()
        except SpecError as exc:
            layer.problems.append(str(exc))

    def _flatten(self, layer: FileLayer, config: dict[str, Any]) -> None:
        layer.role = "flatten"
        if self.stage != "frontend":
            layer.problems.append("a second per-frame flatten is not supported")
        _expect(layer, config, allow={None}, data_format="channels_last")
        self.stage = "flattened"

    def _reshape(self, layer: FileLayer, config: dict[str, Any]) -> None:
        layer.role = "flatten"
        target = config.get("target_shape")
        if self.stage != "frontend" or self.input is None:
            layer.problems.append("Reshape is supported only as the per-frame flatten, before the LSTM")
            return
        try:
            features = math.prod(ModelSpec(self.input, frontend=tuple(self.frontend)).flat_frame_shape)
        except SpecError:
            return
        allowed = ([self.input.timesteps, features], [-1, features])
        if target not in allowed:
            layer.problems.append(
                f"Reshape to {target}: supported only as (time, features) = ({self.input.timesteps}, {features})"
            )
            return
        self.stage = "flattened"

    def _lstm(self, layer: FileLayer, config: dict[str, Any]) -> None:
        layer.role = "lstm"
        if self.stage == "frontend":
            layer.problems.append(
                "the LSTM gets frames that were not flattened: add TimeDistributed(Flatten()) before it, "
                "or the Keras model fails with 'expected ndim=3'"
            )
            return
        if self.stage == "head":
            layer.problems.append("an LSTM after a Dense layer is not supported")
            return
        _expect(
            layer, config, activation="tanh", recurrent_activation="sigmoid", use_bias=True, go_backwards=False,
            stateful=False, return_state=False, time_major=False,
        )  # fmt: skip
        built = _build(layer, lambda: LSTM(config.get("units"), bool(config.get("return_sequences", False)), self._name(layer)))
        self.stage = "recurrent"  # even when this layer has problems, so the next ones are judged in place
        if built is not None and not layer.problems:
            self.recurrent.append(built)
            layer.spec_name = built.name

    def _dense(self, layer: FileLayer, config: dict[str, Any]) -> None:
        layer.role = "dense"
        if self.stage not in ("recurrent", "head"):
            layer.problems.append("Dense before the LSTM (a per-frame embedding) is not supported yet")
            return
        _expect(layer, config, use_bias=True)
        activation = _activation(layer, config)
        built = _build(layer, lambda: Dense(config.get("units"), activation, self._name(layer)))
        self.stage = "head"
        if built is not None and not layer.problems:
            self.head.append(built)
            layer.spec_name = built.name

    def _name(self, layer: FileLayer) -> str:
        """The file's layer name as a spec name: an identifier, unique, never 'flatten'."""
        base = _IDENTIFIER.sub("_", layer.name) or "layer"
        base = f"_{base}" if base[0].isdigit() else base
        name, n = base, 1
        while name in self.used_names:
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        return name

    def finish(self, keras_version: str | None) -> ParsedConfig:
        if self.input is None and all(layer.supported for layer in self.layers):
            raise ModelFileError(f"{self.where}: no input shape found (no InputLayer, no build_input_shape)")
        spec = None
        if all(layer.supported for layer in self.layers):
            if not self.recurrent:
                raise UnsupportedModelError(
                    f"{self.where}: the model has no LSTM layer; lstm2d models are CNN/flatten -> LSTM -> Dense"
                )
            try:
                spec = ModelSpec(self.input, tuple(self.frontend), tuple(self.recurrent), tuple(self.head), name=self.model_name)
            except SpecError as exc:
                raise UnsupportedModelError(f"{self.where}: {exc}") from None
        return ParsedConfig(spec, self.layers, keras_version)


def _dtype_name(dtype: Any) -> str | None:
    if dtype is None or isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict):
        return _config(dtype).get("name")
    return repr(dtype)


def _expect(layer: FileLayer, config: dict[str, Any], allow: set[Any] | None = None, **expected: Any) -> None:
    """Record a problem for every setting that differs from what lstm2d implements (missing = Keras default)."""
    for key, value in expected.items():
        if key not in config:
            continue
        got = config[key]
        if got == value or (allow and got in allow) or (isinstance(value, list) and _tuple(got) == tuple(value)):
            continue
        layer.problems.append(f"{key}={got!r} is not supported (lstm2d implements {key}={value!r})")


def _activation(layer: FileLayer, config: dict[str, Any]) -> str:
    activation = config.get("activation", "linear")
    if activation not in ACTIVATIONS:
        layer.problems.append(f"activation {activation!r} is not supported (supported: {', '.join(ACTIVATIONS)})")
        return "linear"
    return activation


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _build(layer: FileLayer, make: Any) -> Any:
    try:
        return make()
    except (SpecError, TypeError) as exc:
        layer.problems.append(str(exc))
        return None
