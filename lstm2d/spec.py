"""The framework-neutral model description.

A :class:`ModelSpec` describes a model for sequences of 2D grids::

    input (batch, time, height, width, channels)
      -> per-timestep frontend: Conv2D / pooling layers (possibly none), then a flatten
      -> recurrent stack: LSTM layers
      -> head: Dense layers

Both builders (``torch_impl.build_model`` and ``keras_ref.build_model``) read it,
and every layer carries the same name on both sides, so a weight map between them
reads as a table. This module imports neither torch nor keras.

Shapes in this module are per frame and written ``(height, width, channels)``;
the frameworks choose their own memory layout.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Literal

Padding = Literal["valid", "same"]
Activation = Literal["linear", "relu", "tanh", "sigmoid", "softmax"]

ACTIVATIONS: tuple[str, ...] = ("linear", "relu", "tanh", "sigmoid", "softmax")
PADDINGS: tuple[str, ...] = ("valid", "same")
SPEC_FORMAT_VERSION = 1

_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SpecError(ValueError):
    """A model description that cannot be built; the message names the part at fault."""


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    """Normalise ``3`` or ``(3, 3)`` to a pair of positive ints."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise SpecError(f"{what}: expected an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise SpecError(f"{what}: expected positive sizes, got {pair}")
    return pair


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise SpecError(f"{what}: expected one of {', '.join(choices)}, got {value!r}")


def _check_positive(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{what}: expected a positive int, got {value!r}")


def _check_name(name: str) -> None:
    if name and not _NAME_PATTERN.match(name):
        raise SpecError(
            f"layer name {name!r}: expected an identifier (letters, digits, underscore; "
            "not starting with a digit), because it names a torch submodule and a Keras layer"
        )


# ---------------------------------------------------------------------------
# Padding and output-size arithmetic (TensorFlow's rules, which Keras follows)
# ---------------------------------------------------------------------------


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow ``same`` padding along one axis, as ``(before, after)``.

    total = max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
    ``before = total // 2`` and the odd cell, if any, goes ``after`` (bottom / right).
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def output_size(size: int, kernel: int, stride: int, padding: Padding, dilation: int = 1) -> int:
    """Output length along one axis of a convolution or pooling window."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Conv2D:
    """A 2D convolution applied to every frame (Keras ``TimeDistributed(Conv2D)``)."""

    kind: ClassVar[str] = "conv2d"
    filters: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = "valid"
    activation: Activation = "linear"
    name: str = ""

    def __post_init__(self) -> None:
        what = f"conv2d {self.name or '(unnamed)'}"
        _check_positive(self.filters, f"{what} filters")
        object.__setattr__(self, "kernel_size", _pair(self.kernel_size, f"{what} kernel_size"))
        object.__setattr__(self, "strides", _pair(self.strides, f"{what} strides"))
        _check_choice(self.padding, PADDINGS, f"{what} padding")
        _check_choice(self.activation, ACTIVATIONS, f"{what} activation")
        _check_name(self.name)

    def output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """``(height, width, channels)`` of one frame after this layer."""
        h, w, _ = shape
        return (
            output_size(h, self.kernel_size[0], self.strides[0], self.padding),
            output_size(w, self.kernel_size[1], self.strides[1], self.padding),
            self.filters,
        )


@dataclass(frozen=True)
class Pool2D:
    """Max or average pooling applied to every frame (Keras ``MaxPooling2D`` / ``AveragePooling2D``).

    ``strides=None`` means "same as ``pool_size``", as in Keras (stored as the pool size). With ``padding="same"``,
    max pooling ignores the padded cells and average pooling averages over the valid
    cells only.
    """

    kind: ClassVar[str] = "pool2d"
    mode: Literal["max", "avg"]
    pool_size: tuple[int, int] = (2, 2)
    strides: tuple[int, int] | None = None
    padding: Padding = "valid"
    name: str = ""

    def __post_init__(self) -> None:
        what = f"pool2d {self.name or '(unnamed)'}"
        _check_choice(self.mode, ("max", "avg"), f"{what} mode")
        object.__setattr__(self, "pool_size", _pair(self.pool_size, f"{what} pool_size"))
        strides = self.pool_size if self.strides is None else _pair(self.strides, f"{what} strides")
        object.__setattr__(self, "strides", strides)
        _check_choice(self.padding, PADDINGS, f"{what} padding")
        _check_name(self.name)

    def output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """``(height, width, channels)`` of one frame after this layer."""
        h, w, c = shape
        sh, sw = self.strides
        return (
            output_size(h, self.pool_size[0], sh, self.padding),
            output_size(w, self.pool_size[1], sw, self.padding),
            c,
        )


@dataclass(frozen=True)
class LSTM:
    """An LSTM layer (Keras defaults: tanh / sigmoid, one bias, gates i, f, c, o)."""

    kind: ClassVar[str] = "lstm"
    units: int
    return_sequences: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        _check_positive(self.units, f"lstm {self.name or '(unnamed)'} units")
        if not isinstance(self.return_sequences, bool):
            raise SpecError(f"lstm {self.name}: return_sequences must be a bool, got {self.return_sequences!r}")
        _check_name(self.name)


@dataclass(frozen=True)
class Dense:
    """A fully connected layer on the last axis."""

    kind: ClassVar[str] = "dense"
    units: int
    activation: Activation = "linear"
    name: str = ""

    def __post_init__(self) -> None:
        _check_positive(self.units, f"dense {self.name or '(unnamed)'} units")
        _check_choice(self.activation, ACTIVATIONS, f"dense {self.name} activation")
        _check_name(self.name)


FrontendLayer = Conv2D | Pool2D
Layer = Conv2D | Pool2D | LSTM | Dense
LAYER_KINDS: dict[str, type] = {cls.kind: cls for cls in (Conv2D, Pool2D, LSTM, Dense)}


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """One sample: ``timesteps`` frames of ``height x width x channels``; ``timesteps=None`` means any length."""

    timesteps: int | None
    height: int
    width: int
    channels: int = 1

    def __post_init__(self) -> None:
        if self.timesteps is not None:
            _check_positive(self.timesteps, "input timesteps")
        _check_positive(self.height, "input height")
        _check_positive(self.width, "input width")
        _check_positive(self.channels, "input channels")

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)``."""
        return (self.height, self.width, self.channels)


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: input, per-timestep frontend (then flatten), LSTM stack, Dense head.

    An empty ``frontend`` means "flatten each frame into a feature vector". Layer names
    left empty are filled in as ``<kind>_<n>`` (``conv2d_1``, ``pool2d_1``, ``lstm_1``,
    ``dense_1``, counted per kind from 1); names are unique across the model.
    """

    input: InputSpec
    frontend: tuple[FrontendLayer, ...] = ()
    recurrent: tuple[LSTM, ...] = (LSTM(64),)
    head: tuple[Dense, ...] = (Dense(1),)
    name: str = "lstm2d"

    def __post_init__(self) -> None:
        object.__setattr__(self, "frontend", tuple(self.frontend))
        object.__setattr__(self, "recurrent", tuple(self.recurrent))
        object.__setattr__(self, "head", tuple(self.head))
        for part, allowed in (("frontend", (Conv2D, Pool2D)), ("recurrent", (LSTM,)), ("head", (Dense,))):
            for layer in getattr(self, part):
                if not isinstance(layer, allowed):
                    expected = " or ".join(cls.__name__ for cls in allowed)
                    raise SpecError(f"{part}: expected {expected} layers, got {layer!r}")
        self._assign_names()
        self._check_structure()

    # -- construction helpers -------------------------------------------------

    def _assign_names(self) -> None:
        counters: dict[str, int] = {}
        taken = {layer.name for layer in self.layers if layer.name}

        def named(layer: Layer) -> Layer:
            if layer.name:
                return layer
            while True:
                counters[layer.kind] = counters.get(layer.kind, 0) + 1
                candidate = f"{layer.kind}_{counters[layer.kind]}"
                if candidate not in taken:
                    taken.add(candidate)
                    return replace(layer, name=candidate)

        for part in ("frontend", "recurrent", "head"):
            object.__setattr__(self, part, tuple(named(layer) for layer in getattr(self, part)))
        seen: set[str] = set()
        for layer in self.layers:
            if layer.name in seen:
                raise SpecError(f"layer name {layer.name!r} is used twice; names must be unique")
            seen.add(layer.name)
        if "flatten" in seen:
            raise SpecError("layer name 'flatten' is reserved for the per-timestep flatten")

    def _check_structure(self) -> None:
        if not self.recurrent:
            raise SpecError("recurrent: expected at least one LSTM layer, got none")
        for layer in self.recurrent[:-1]:
            if not layer.return_sequences:
                raise SpecError(
                    f"lstm {layer.name} feeds another LSTM, so it must return sequences "
                    "(return_sequences=True); otherwise the next LSTM gets a 2-D input "
                    "and Keras fails with 'expected ndim=3, found ndim=2'"
                )
        self.frame_shapes()  # raises if the frontend shrinks a frame below 1x1

    # -- derived shapes ---------------------------------------------------------

    @property
    def layers(self) -> tuple[Layer, ...]:
        """All layers in model order."""
        return (*self.frontend, *self.recurrent, *self.head)

    def frame_shapes(self) -> list[tuple[int, int, int]]:
        """Frame shape ``(height, width, channels)`` before the frontend and after each of its layers."""
        shapes = [self.input.frame_shape]
        for layer in self.frontend:
            out = layer.output_shape(shapes[-1])
            if min(out[:2]) < 1:
                raise SpecError(
                    f"{layer.kind} {layer.name} shrinks the frame below 1x1: input (height, width, "
                    f"channels) = {shapes[-1]}, output = {out}; use padding='same', a smaller kernel "
                    "or stride, or a larger grid"
                )
            shapes.append(out)
        return shapes

    @property
    def flat_frame_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of one frame as it reaches the flatten."""
        return self.frame_shapes()[-1]

    @property
    def features(self) -> int:
        """Length of the flattened per-timestep feature vector fed to the first LSTM."""
        return math.prod(self.flat_frame_shape)

    def recurrent_input_sizes(self) -> list[int]:
        """Input feature size of each LSTM layer, in order."""
        sizes = [self.features]
        for layer in self.recurrent[:-1]:
            sizes.append(layer.units)
        return sizes

    def head_input_sizes(self) -> list[int]:
        """Input feature size of each Dense layer, in order."""
        sizes = [self.recurrent[-1].units]
        for layer in self.head[:-1]:
            sizes.append(layer.units)
        return sizes

    @property
    def returns_sequences(self) -> bool:
        """Whether the model output has a time axis: ``(batch, time, units)``, else ``(batch, units)``."""
        return self.recurrent[-1].return_sequences

    def output_shape(self) -> tuple[int | None, ...]:
        """Shape of the model output for one sample (``None`` for a free time axis)."""
        units = self.head[-1].units if self.head else self.recurrent[-1].units
        return (self.input.timesteps, units) if self.returns_sequences else (units,)

    # -- serialisation ------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; every layer carries its ``kind``."""

        def layer_dict(layer: Layer) -> dict[str, Any]:
            return {"kind": layer.kind, **{k: _jsonable(v) for k, v in asdict(layer).items()}}

        return {
            "format_version": SPEC_FORMAT_VERSION,
            "name": self.name,
            "input": asdict(self.input),
            "frontend": [layer_dict(layer) for layer in self.frontend],
            "recurrent": [layer_dict(layer) for layer in self.recurrent],
            "head": [layer_dict(layer) for layer in self.head],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; unknown keys or layer kinds are errors, not ignored."""
        if not isinstance(data, Mapping):
            raise SpecError(f"model spec: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version", SPEC_FORMAT_VERSION)
        if version != SPEC_FORMAT_VERSION:
            raise SpecError(f"model spec: format_version {version!r} is not supported (expected {SPEC_FORMAT_VERSION})")
        _check_keys(data, {"format_version", "name", "input", "frontend", "recurrent", "head"}, "model spec")
        if "input" not in data:
            raise SpecError("model spec: missing 'input'")
        input_data = data["input"]
        if not isinstance(input_data, Mapping):
            raise SpecError(f"model spec input: expected an object, got {input_data!r}")
        _check_keys(input_data, {f.name for f in fields(InputSpec)}, "model spec input")
        try:
            input_spec = InputSpec(**input_data)
        except TypeError as exc:
            raise SpecError(f"model spec input: {exc}") from None
        kwargs: dict[str, Any] = {"input": input_spec}
        for part in ("frontend", "recurrent", "head"):  # a missing part keeps the dataclass default
            if part in data:
                items = data[part]
                if not isinstance(items, list):
                    raise SpecError(f"model spec {part}: expected a list of layers, got {items!r}")
                kwargs[part] = tuple(_layer_from_dict(item, part) for item in items)
        if "name" in data:
            kwargs["name"] = str(data["name"])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"model spec: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    def with_input(self, **changes: Any) -> ModelSpec:
        """A copy with some input fields changed (e.g. ``timesteps=7``), re-validated."""
        return replace(self, input=replace(self.input, **changes))


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_keys(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(f"{what}: unknown keys {unknown}; expected some of {sorted(allowed)}")


def _layer_from_dict(item: Any, part: str) -> Layer:
    if not isinstance(item, Mapping) or "kind" not in item:
        raise SpecError(f"{part}: expected a layer object with a 'kind', got {item!r}")
    kind = item["kind"]
    if kind not in LAYER_KINDS:
        raise SpecError(f"{part}: unknown layer kind {kind!r}; expected one of {sorted(LAYER_KINDS)}")
    cls = LAYER_KINDS[kind]
    values = {k: v for k, v in item.items() if k != "kind"}
    _check_keys(values, {f.name for f in fields(cls)}, f"{part} {kind}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise SpecError(f"{part} {kind}: {exc}") from None


__all__ = [
    "ACTIVATIONS",
    "LSTM",
    "Conv2D",
    "Dense",
    "FrontendLayer",
    "InputSpec",
    "Layer",
    "ModelSpec",
    "Pool2D",
    "SpecError",
    "output_size",
    "same_padding",
]
