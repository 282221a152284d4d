"""A Keras model config (Keras 3 ``config.json`` or Keras 2 ``model_config``), read as data, into a ModelSpec.

Only linear models are read: Sequential, or Functional where every layer takes the previous one's
output (the ``NotEqual``/``Any`` ops Keras 3 records for a ``Masking`` layer's mask are recognised as
such). Each layer is reported (:class:`FileLayer`) with the spec layer it becomes, or why it cannot;
:func:`spec_from_config` refuses the model if any layer is unsupported, naming all of them.
Nothing named in the config is imported or called.

The model's ``data_format`` (channels_last or channels_first frames) is what its spatial layers say;
they must all say the same (see :func:`model_data_format`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from lstm2d.keras_layers import batch_norm_axis
from lstm2d.spec import (
    ACTIVATIONS,
    DATA_FORMATS,
    GRU,
    LSTM,
    Activation,
    BatchNorm,
    Bidirectional,
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    DataFormat,
    Dense,
    Dropout,
    Flatten,
    Frames,
    GlobalPool2D,
    InputSpec,
    Layer,
    Masking,
    ModelSpec,
    Pool2D,
    Shape,
    SimpleRNN,
    SpecError,
    Steps,
    describe_shape,
)
from torch_impl.files.errors import ModelFileError, UnsupportedModelError

SUPPORTED = (
    "InputLayer; Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D and Flatten "
    "(in TimeDistributed on sequences of frames); Reshape to (time, features); BatchNormalization (also in "
    "TimeDistributed); Dropout; Activation; Masking; Dense; LSTM; GRU; SimpleRNN; Bidirectional; ConvLSTM2D; Conv3D "
    "(channels_last, or channels_first without Conv3D; float32)"
)
MASK_OPS = ("NotEqual", "Any")  # what Keras 3 records in a Functional graph to compute a Masking layer's mask
COMPUTATION_KEYS = (
    "units", "activation", "recurrent_activation", "use_bias", "return_sequences", "go_backwards", "reset_after",
    "dropout", "recurrent_dropout", "stateful", "return_state",
)  # fmt: skip
"""The recurrent-layer settings that change what it computes (initializers, regularizers and names do not)."""
_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


@dataclass
class FileLayer:
    """One layer of the file's model, as lstm2d sees it."""

    name: str  # the layer's name in the file
    keras_class: str  # the (outer) Keras class: names its weights group in Keras 3 files
    display: str  # e.g. "TimeDistributed(Conv2D)"
    spec_layer: Layer | None = None  # what it becomes; None for InputLayer, or when it cannot be converted
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
    """Every layer with what it becomes; the spec when all are supported."""
    class_name = config.get("class_name")
    body = config.get("config")
    if class_name not in ("Sequential", "Functional", "Model") or not isinstance(body, dict):
        raise UnsupportedModelError(f"{where}: top-level object is {class_name!r}; expected a Sequential or Functional model")
    raw_layers = body.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers or not all(isinstance(raw, dict) for raw in raw_layers):
        raise ModelFileError(f"{where}: the model config lists no layers, or a layer entry is not an object")
    if class_name != "Sequential":
        raw_layers = _linear_chain(raw_layers, body, where)
    builder = _SpecBuilder(where, body.get("name"), legacy=_is_keras2(keras_version), data_format=model_data_format(raw_layers))
    if class_name == "Sequential" and _class(raw_layers[0]) != "InputLayer":
        shape = (
            body.get("build_input_shape")
            or _config(raw_layers[0]).get("batch_input_shape")
            or _config(raw_layers[0]).get("batch_shape")
        )
        builder.set_input(shape, "(the model's build_input_shape)", None)
    for raw in raw_layers:
        builder.add(raw)
    return builder.finish(keras_version)


def spec_from_config(config: dict[str, Any], *, keras_version: str | None, where: str) -> tuple[ModelSpec, list[FileLayer]]:
    parsed = parse_model_config(config, keras_version=keras_version, where=where)
    bad = [layer for layer in parsed.layers if not layer.supported]
    if bad or parsed.spec is None:
        lines = "\n".join(f"  - {layer.name!r} ({layer.display}): {'; '.join(layer.problems)}" for layer in bad)
        raise UnsupportedModelError(f"{where}: layers lstm2d cannot convert:\n{lines}\nSupported: {SUPPORTED}")
    return parsed.spec, parsed.layers


def _is_keras2(version: str | None) -> bool:
    return version is not None and version.split(".")[0] in ("1", "2")


def _class(raw: Any) -> str:
    return raw.get("class_name", "?") if isinstance(raw, dict) else "?"


def _config(raw: Any) -> dict[str, Any]:
    config = raw.get("config") if isinstance(raw, dict) else None
    return config if isinstance(config, dict) else {}


def _name(raw: dict[str, Any]) -> str:
    return str(_config(raw).get("name", raw.get("name", "?")))


# -- the graph of a Functional model ------------------------------------------------------------


def _linear_chain(raw_layers: list[dict[str, Any]], body: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The layers of a Functional model that is a chain, without Keras' mask plumbing; else UnsupportedModelError.

    Each layer's single input must be the previous layer's output (Keras 3 and Keras 2 node formats); a
    ``mask=`` argument may only come from the mask ops of a Masking layer.
    """
    names = [_name(raw) for raw in raw_layers]
    by_name = dict(zip(names, raw_layers, strict=True))
    mask_ops = {name for name, raw in by_name.items() if _class(raw) in MASK_OPS and raw.get("module") == "keras.src.ops.numpy"}
    chain = [raw for name, raw in by_name.items() if name not in mask_ops]
    for previous, raw in itertools.pairwise(chain):
        sources, mask_sources = _inbound(raw.get("inbound_nodes"))
        if sources != [_name(previous)]:
            raise UnsupportedModelError(
                f"{where}: layer {_name(raw)!r} takes {sources or 'no inputs'}, not just the previous layer "
                f"{_name(previous)!r}; lstm2d reads linear models only (Sequential, or a chain of layers)"
            )
        if any(source not in mask_ops for source in mask_sources):
            raise UnsupportedModelError(
                f"{where}: layer {_name(raw)!r} gets a mask from {mask_sources}, not from a Masking layer"
            )
    for name in mask_ops:
        _check_mask_op(by_name[name], by_name, where)
    outputs = body.get("output_layers")
    if outputs is not None and sorted(set(_history_names(outputs))) != [_name(chain[-1])]:
        raise UnsupportedModelError(f"{where}: the model's outputs are {outputs}; expected the last layer {_name(chain[-1])!r}")
    return chain


def _check_mask_op(raw: dict[str, Any], by_name: dict[str, dict[str, Any]], where: str) -> None:
    """``NotEqual(x, mask_value)`` on a Masking layer's input, and ``Any(axis=-1)`` of that: nothing else."""
    node = (raw.get("inbound_nodes") or [None])[0]
    args = node.get("args", []) if isinstance(node, dict) else []
    sources = _history_names(args)
    if _class(raw) == "Any":
        ok = len(sources) == 1 and _class(by_name.get(sources[0])) == "NotEqual" and _config(raw).get("axis") == -1
    else:
        masking = [r for r in by_name.values() if _class(r) == "Masking" and _inbound(r.get("inbound_nodes"))[0] == sources]
        ok = len(sources) == 1 and len(masking) == 1 and len(args) == 2 and args[1] == _config(masking[0]).get("mask_value")
    if not ok:
        raise UnsupportedModelError(f"{where}: op {_name(raw)!r} ({_class(raw)}) is not the mask computation of a Masking layer")


def _inbound(nodes: Any) -> tuple[list[str], list[str]]:
    """(layers feeding the call's inputs, layers feeding its ``mask=``), in Keras 3 or Keras 2 node format."""
    if not isinstance(nodes, list):
        return [], []
    inputs: list[str] = []
    masks: list[str] = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [keras_tensor...], "kwargs": {...}}
            inputs += _history_names(node.get("args", []))
            kwargs = node.get("kwargs", {})
            if isinstance(kwargs, dict):
                masks += _history_names(kwargs.get("mask"))
                inputs += _history_names({k: v for k, v in kwargs.items() if k != "mask"})
        elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            inputs += [item[0] for item in node if isinstance(item, list) and item and isinstance(item[0], str)]
    return inputs, masks


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


# -- the model's data format ----------------------------------------------------------------------

SPATIAL_CLASSES = (
    "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "ConvLSTM2D", "Conv3D",
)  # fmt: skip
"""Keras layers whose ``data_format`` says where the frames' channels are (Flatten's says its flatten order)."""


@dataclass(frozen=True)
class DeclaredFormat:
    """The frame layout of a file's model, and the layer that decided it (None: Keras' default, channels_last)."""

    value: DataFormat = "channels_last"
    decided_by: str | None = None


def model_data_format(raw_layers: list[dict[str, Any]]) -> DeclaredFormat:
    """The ``data_format`` of the first spatial layer (the others must agree; each is checked when it is read).

    Without a spatial layer, a ``Flatten(data_format="channels_first")`` means channels_first frames (on
    channels_last ones Keras would flatten (W, C, H)); otherwise the model is channels_last. A missing
    ``data_format`` is Keras' default, channels_last; a value that is neither decides nothing.
    """
    declared = [(_name(raw), *_declared_data_format(raw)) for raw in raw_layers]
    for name, class_name, value in declared:
        if class_name in SPATIAL_CLASSES and value in DATA_FORMATS:
            return DeclaredFormat(value, name)
    for name, class_name, value in declared:
        if class_name == "Flatten" and value == "channels_first":
            return DeclaredFormat(value, name)
    return DeclaredFormat()


def _declared_data_format(raw: dict[str, Any]) -> tuple[str, Any]:
    """(the layer's class, its ``data_format``), looking inside a TimeDistributed wrapper."""
    if _class(raw) == "TimeDistributed" and isinstance(_config(raw).get("layer"), dict):
        raw = _config(raw)["layer"]
    return _class(raw), _data_format(_config(raw))


def _data_format(config: dict[str, Any]) -> Any:
    """A layer config's ``data_format``; missing (or null) is Keras' default, channels_last."""
    value = config.get("data_format")
    return "channels_last" if value is None else value


# -- layers ---------------------------------------------------------------------------------------


_Conv = TypeVar("_Conv", Conv2D, Conv3D)


class _SpecBuilder:
    """Reads layers in order, tracking the per-sample shape, and builds the spec layer for each."""

    def __init__(self, where: str, model_name: Any, *, legacy: bool, data_format: DeclaredFormat) -> None:
        self.where = where
        self.model_name = str(model_name) if model_name else "keras-model"
        self.legacy = legacy  # Keras 2 file: 'hard_sigmoid' means Keras 2's formula
        self.data_format = data_format
        self.input: InputSpec | None = None
        self.shape: Shape | None = None  # None once a layer fails: later layers are listed, not judged
        self.spec_layers: list[Layer] = []
        self.layers: list[FileLayer] = []
        self.used_names: set[str] = set()

    def set_input(self, shape: Any, origin: str, record: FileLayer | None) -> None:
        """The input from a batch shape ``[None, T, H, W, C]`` (``[None, T, C, H, W]`` in a channels_first model); a problem
        on ``record`` (or an error) otherwise."""
        problem = None
        channels_first = self.data_format.value == "channels_first"
        if not (isinstance(shape, list) and len(shape) == 5 and all(d is None or isinstance(d, int) for d in shape)):
            axes = "channels, height, width" if channels_first else "height, width, channels"
            problem = (
                f"input shape {shape} {origin}: expected (batch, time, {axes}); lstm2d models read "
                "sequences of 2D grids with a channel axis. A (batch, height, width, channels) input with "
                "Conv2D -> Flatten -> LSTM is the article's mistake: Keras fails with 'expected ndim=3, found ndim=2'; "
                "wrap the per-frame layers in TimeDistributed and give the model a time axis"
            )
        elif None in shape[2:]:
            problem = f"input shape {shape}: height, width and channels must be fixed"
        else:
            time, *frame = shape[1:]
            height, width, channels = (frame[1], frame[2], frame[0]) if channels_first else frame
            try:
                self.input = InputSpec(time, height, width, channels)
                self.shape = self.input.shape
            except SpecError as exc:
                problem = str(exc)
        if problem is not None:
            if record is None:
                raise UnsupportedModelError(f"{self.where}: {problem}")
            record.problems.append(problem)

    def add(self, raw: dict[str, Any]) -> None:
        outer, config = _class(raw), _config(raw)
        inner_raw = config.get("layer") if outer in ("TimeDistributed", "Bidirectional") else None
        inner = _class(inner_raw) if isinstance(inner_raw, dict) else None
        record = FileLayer(_name(raw), outer, f"{outer}({inner})" if inner else outer)
        self.layers.append(record)
        if (dtype := _dtype_name(config.get("dtype"))) not in (None, "float32"):
            record.problems.append(f"dtype policy {dtype!r}: only float32 is supported")
        if outer == "InputLayer":
            self.set_input(config.get("batch_shape") or config.get("batch_input_shape"), "(InputLayer)", record)
            return
        if self.input is None:
            if not self.layers[0].problems:
                record.problems.append("no input shape before this layer: the model needs an InputLayer or a build_input_shape")
            return
        layer = self._convert(record, outer, config, inner, _config(inner_raw))
        if layer is None:
            self.shape = None  # unknown from here: later layers are still checked, their shapes no longer
            return
        if self.shape is not None:
            try:
                self.shape = layer.output_shape(self.shape)  # settings problems do not change shapes: go on
            except SpecError as exc:
                record.problems.append(str(exc))
                self.shape = None
        if not record.problems:
            record.spec_layer = layer
            self.spec_layers.append(layer)

    def _convert(
        self, record: FileLayer, outer: str, config: dict[str, Any], inner: str | None, inner_config: dict[str, Any]
    ) -> Layer | None:
        shape = self.shape  # None after an unconvertible layer: skip the checks that need it
        if outer == "TimeDistributed":
            if shape is not None and not isinstance(shape, (Frames, Steps)):
                record.problems.append(f"TimeDistributed needs a time axis, got {describe_shape(shape)}")
                return None
            if inner in PER_FRAME_CLASSES and shape is not None and not isinstance(shape, Frames):
                record.problems.append(f"TimeDistributed({inner}) needs frames, got {describe_shape(shape)}")
                return None
            if inner == "BatchNormalization":
                return self._batch_norm(record, inner_config, per_timestep=True)
            if inner in ("Dense", "Dropout", "Activation") or inner in PER_FRAME_CLASSES:
                return self._plain(record, inner, inner_config)
            record.problems.append(f"TimeDistributed({inner}) is not supported")
            return None
        if outer in PER_FRAME_CLASSES and isinstance(shape, Frames):
            record.problems.append(
                f"{outer} outside TimeDistributed works on the whole (time, height, width, channels) sample, so the "
                "time axis is lost before the LSTM ('expected ndim=3, found ndim=2'); wrap per-frame layers in TimeDistributed"
            )
            return None
        if outer == "Reshape":
            return self._reshape(record, config)
        if outer == "BatchNormalization":
            return self._batch_norm(record, config, per_timestep=False)
        if outer == "Bidirectional":
            return self._bidirectional(record, config, inner, inner_config)
        return self._plain(record, outer, config)

    # -- per class ---------------------------------------------------------------------------

    def _plain(self, record: FileLayer, class_name: str | None, config: dict[str, Any]) -> Layer | None:
        make = self._makers().get(class_name or "")
        if make is None:
            record.problems.append(f"{class_name} is not supported")
            return None
        return _build(record, lambda: make(record, config))

    def _makers(self) -> dict[str, Callable[[FileLayer, dict[str, Any]], Layer]]:
        return {
            "Conv2D": self._conv2d,
            "MaxPooling2D": lambda r, c: self._pool(r, c, "max"),
            "AveragePooling2D": lambda r, c: self._pool(r, c, "avg"),
            "GlobalAveragePooling2D": lambda r, c: self._global_pool(r, c, "avg"),
            "GlobalMaxPooling2D": lambda r, c: self._global_pool(r, c, "max"),
            "Flatten": self._flatten,
            "Dropout": self._dropout,
            "Activation": lambda r, c: Activation(self._activation(r, c, "activation", "linear"), self._name(r)),
            "Masking": lambda r, c: Masking(c.get("mask_value", 0.0), self._name(r)),
            "Dense": self._dense,
            "LSTM": self._recurrent,
            "GRU": self._recurrent,
            "SimpleRNN": self._recurrent,
            "ConvLSTM2D": self._conv_lstm,
            "Conv3D": self._conv3d,
        }

    def _conv2d(self, record: FileLayer, c: dict[str, Any]) -> Layer:
        return self._conv(record, c, Conv2D)

    def _conv3d(self, record: FileLayer, c: dict[str, Any]) -> Layer:
        layer = self._conv(record, c, Conv3D)
        layer.check_data_format(self.data_format.value)
        return layer

    def _conv(self, record: FileLayer, c: dict[str, Any], cls: type[_Conv]) -> _Conv:
        self._expect_data_format(record, c)
        _expect(record, c, groups=1)
        return cls(
            c.get("filters"),  # type: ignore[arg-type]  # the file's value, None if missing: the layer validates it
            _tuple(c.get("kernel_size")), strides=_tuple(c.get("strides", 1)),
            padding=c.get("padding", "valid"), dilation_rate=_tuple(c.get("dilation_rate", 1)),
            activation=self._activation(record, c, "activation", "linear"), use_bias=c.get("use_bias", True),
            name=self._name(record),
        )  # fmt: skip

    def _pool(self, record: FileLayer, c: dict[str, Any], mode: Literal["max", "avg"]) -> Layer:
        self._expect_data_format(record, c)
        strides = c.get("strides")
        return Pool2D(
            mode, _tuple(c.get("pool_size", 2)), strides=None if strides is None else _tuple(strides),
            padding=c.get("padding", "valid"), name=self._name(record),
        )  # fmt: skip

    def _global_pool(self, record: FileLayer, c: dict[str, Any], mode: Literal["avg", "max"]) -> Layer:
        self._expect_data_format(record, c)
        _expect(record, c, keepdims=False)
        return GlobalPool2D(mode, self._name(record))

    def _flatten(self, record: FileLayer, c: dict[str, Any]) -> Layer:
        layer = Flatten(_data_format(c), name=self._name(record))
        layer.check_data_format(self.data_format.value)
        return layer

    def _dropout(self, record: FileLayer, c: dict[str, Any]) -> Layer:
        _expect(record, c, noise_shape=None)
        return Dropout(c.get("rate", 0.5), self._name(record))

    def _dense(self, record: FileLayer, c: dict[str, Any]) -> Layer:
        return Dense(
            c.get("units"),  # type: ignore[arg-type]  # the file's value, None if missing: Dense validates it
            self._activation(record, c, "activation", "linear"),
            c.get("use_bias", True),
            self._name(record),
        )

    def _recurrent_options(self, record: FileLayer, c: dict[str, Any]) -> dict[str, Any]:
        _expect(record, c, stateful=False, return_state=False, time_major=False)
        return {
            "units": c.get("units"), "return_sequences": c.get("return_sequences", False),
            "go_backwards": c.get("go_backwards", False), "activation": self._activation(record, c, "activation", "tanh"),
            "use_bias": c.get("use_bias", True), "dropout": c.get("dropout", 0.0),
            "recurrent_dropout": c.get("recurrent_dropout", 0.0),
        }  # fmt: skip

    def _recurrent(
        self, record: FileLayer, c: dict[str, Any], *, class_name: str | None = None, name: str | None = None
    ) -> Layer:
        class_name = class_name or record.keras_class
        options = {**self._recurrent_options(record, c), "name": self._name(record) if name is None else name}
        if class_name == "SimpleRNN":
            return SimpleRNN(**options)
        options["recurrent_activation"] = self._activation(record, c, "recurrent_activation", "sigmoid")
        if class_name == "LSTM":
            return LSTM(**options, unit_forget_bias=c.get("unit_forget_bias", True))
        return GRU(**options, reset_after=c.get("reset_after", True))

    def _bidirectional(
        self, record: FileLayer, config: dict[str, Any], inner: str | None, inner_config: dict[str, Any]
    ) -> Layer | None:
        if inner not in ("LSTM", "GRU", "SimpleRNN"):
            record.problems.append(f"Bidirectional({inner}) is not supported (LSTM, GRU or SimpleRNN only)")
            return None
        backward = config.get("backward_layer")
        if isinstance(backward, dict):  # Keras saves it; it must compute the forward layer's function, reversed
            expected = {**inner_config, "go_backwards": not inner_config.get("go_backwards", False)}
            differing = [k for k in COMPUTATION_KEYS if _config(backward).get(k) != expected.get(k)]
            if _class(backward) != inner or differing:
                record.problems.append(f"a backward_layer other than the forward layer reversed (differs in {differing})")
                return None
        wrapped = _build(record, lambda: self._recurrent(record, inner_config, class_name=inner, name=""))
        if wrapped is None:
            return None
        return _build(record, lambda: Bidirectional(wrapped, config.get("merge_mode", "concat"), self._name(record)))

    def _conv_lstm(self, record: FileLayer, c: dict[str, Any]) -> Layer:
        self._expect_data_format(record, c)
        _expect(record, c, stateful=False, return_state=False)
        return ConvLSTM2D(
            c.get("filters"),  # type: ignore[arg-type]  # the file's value, None if missing: ConvLSTM2D validates it
            _tuple(c.get("kernel_size")), strides=_tuple(c.get("strides", 1)),
            padding=c.get("padding", "valid"),
            dilation_rate=_tuple(c.get("dilation_rate", 1)), activation=self._activation(record, c, "activation", "tanh"),
            recurrent_activation=self._activation(record, c, "recurrent_activation", "sigmoid"),
            use_bias=c.get("use_bias", True), unit_forget_bias=c.get("unit_forget_bias", True),
            return_sequences=c.get("return_sequences", False), go_backwards=c.get("go_backwards", False),
            dropout=c.get("dropout", 0.0), recurrent_dropout=c.get("recurrent_dropout", 0.0), name=self._name(record),
        )  # fmt: skip

    def _batch_norm(self, record: FileLayer, c: dict[str, Any], *, per_timestep: bool) -> Layer | None:
        """The axis must be the one lstm2d normalises: the channels of frames and grids, else the features."""
        axis = c.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if self.shape is None:  # unknown after an unconvertible layer: judge only what holds for every shape
            if axis != -1 and self.data_format.value == "channels_last":
                record.problems.append(f"axis={c.get('axis')!r} is not supported (lstm2d normalises the last axis, -1)")
        else:
            rank = _rank(self.shape) - per_timestep  # of the tensor the Keras layer sees (TimeDistributed drops time)
            expected = batch_norm_axis(self.shape, rank, self.data_format.value)
            if isinstance(axis, bool) or axis not in (expected, expected + rank if expected < 0 else expected - rank):
                where = "the last axis" if expected == -1 else f"the channel axis of {self.data_format.value} frames"
                record.problems.append(f"axis={c.get('axis')!r} is not supported (lstm2d normalises {where}, {expected})")
        _expect(record, c, renorm=False)
        return _build(record, lambda: BatchNorm(
            c.get("epsilon", 1e-3), c.get("momentum", 0.99), c.get("center", True), c.get("scale", True), per_timestep,
            self._name(record),
        ))  # fmt: skip

    def _reshape(self, record: FileLayer, config: dict[str, Any]) -> Layer | None:
        shape = self.shape
        target = config.get("target_shape")
        if shape is None:
            return None  # cannot be judged after an unconvertible layer
        if isinstance(shape, Frames):
            features = shape.height * shape.width * shape.channels
            if target in ([shape.time, features], [-1, features]):
                return Flatten(name=self._name(record))  # flattens in the frames' own axis order, as Flatten() does
        record.problems.append(
            f"Reshape to {target}: supported only as the per-frame flatten, (time, features) of frames"
            + (f" = ({shape.time}, {shape.height * shape.width * shape.channels})" if isinstance(shape, Frames) else "")
        )
        return None

    # -- names and values ---------------------------------------------------------------------

    def _expect_data_format(self, record: FileLayer, config: dict[str, Any]) -> None:
        """A spatial layer must say the model's data format (a missing ``data_format`` is Keras' default, channels_last)."""
        found = _data_format(config)
        model = self.data_format
        if found != model.value:
            source = f"set by layer {model.decided_by!r}" if model.decided_by else "Keras' default"
            record.problems.append(
                f"data_format={found!r} differs from the model's {model.value!r} ({source}); lstm2d reads models whose "
                "spatial layers all share one data_format"
            )

    def _activation(self, record: FileLayer, config: dict[str, Any], key: str, default: str) -> str:
        name = config.get(key, default)
        if name == "hard_sigmoid" and self.legacy:
            return "hard_sigmoid_keras2"  # same name, Keras 2's formula: clip(0.2 x + 0.5, 0, 1)
        if name not in ACTIVATIONS:
            record.problems.append(f"{key} {name!r} is not supported (supported: {', '.join(ACTIVATIONS)})")
            return default
        return name

    def _name(self, record: FileLayer) -> str:
        """The file's layer name as a spec name: an identifier, unique."""
        base = _IDENTIFIER.sub("_", record.name) or "layer"
        base = f"_{base}" if base[0].isdigit() else base
        name, n = base, 1
        while name in self.used_names:
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        return name

    def finish(self, keras_version: str | None) -> ParsedConfig:
        spec = None
        if all(layer.supported for layer in self.layers):
            if self.input is None:
                raise ModelFileError(f"{self.where}: no input shape found (no InputLayer, no build_input_shape)")
            try:
                spec = ModelSpec(self.input, tuple(self.spec_layers), name=self.model_name, data_format=self.data_format.value)
            except SpecError as exc:
                raise UnsupportedModelError(f"{self.where}: {exc}") from None
        return ParsedConfig(spec, self.layers, keras_version)


PER_FRAME_CLASSES = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten")


def _rank(shape: Shape) -> int:
    """Rank of the per-sample tensor plus the batch axis, as Keras counts axes."""
    return len(shape.dims) + 1


def _dtype_name(dtype: Any) -> str | None:
    if dtype is None or isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict):
        return _config(dtype).get("name")
    return repr(dtype)


def _expect(layer: FileLayer, config: dict[str, Any], **expected: Any) -> None:
    """Record a problem for every setting that differs from what lstm2d implements (missing = Keras default)."""
    for key, value in expected.items():
        if key not in config:
            continue
        got = config[key]
        if got == value or (isinstance(value, list) and _tuple(got) == tuple(value)):
            continue
        layer.problems.append(f"{key}={got!r} is not supported (lstm2d implements {key}={value!r})")


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _build(layer: FileLayer, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except (SpecError, TypeError) as exc:
        layer.problems.append(str(exc))
        return None


__all__ = ["SUPPORTED", "FileLayer", "ParsedConfig", "parse_model_config", "spec_from_config"]
