"""The framework-neutral model description.

A :class:`ModelSpec` is an input (a sequence of 2D grids) and a linear stack of layers, read
like a Keras ``Sequential``::

    ModelSpec(
        input=InputSpec(timesteps=100, height=10, width=10, channels=1),
        layers=(Conv2D(32, 3, activation="relu"), Pool2D("max", 2), Flatten(), LSTM(64), Dense(1)),
    )

Every layer says what it accepts and what it returns, per sample, as one of four shapes:
:class:`Frames` ``(time, height, width, channels)``, :class:`Grid` ``(height, width, channels)``,
:class:`Steps` ``(time, features)`` and :class:`Vector` ``(features,)``. A 2D layer (Conv2D,
pooling, BatchNorm, Flatten, global pooling) given frames runs on every frame, which is Keras'
``TimeDistributed``; the Keras builder adds the wrapper, the torch model folds time into the batch.

Both builders (``torch_impl.build_model`` and ``keras_ref.build_model``) read the spec, and every
layer carries the same name on both sides, so a weight map between them reads as a table. This
module imports neither torch nor keras. Shapes here are written in (height, width, channels) order
whatever the model's ``data_format``; each framework chooses its own memory layout
(:func:`keras_dims` gives a shape in the Keras model's layout).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Literal

Padding = Literal["valid", "same"]
PADDINGS: tuple[str, ...] = ("valid", "same")
DataFormat = Literal["channels_last", "channels_first"]
DATA_FORMATS: tuple[str, ...] = ("channels_last", "channels_first")
"""Where a Keras model keeps the channels of its frames: ``(batch, time, height, width, channels)`` or
``(batch, time, channels, height, width)`` (Keras' ``data_format`` of its spatial layers)."""
ACTIVATIONS: tuple[str, ...] = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "hard_silu", "hard_swish",
    "mish", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2", "tanh", "softplus", "softsign", "exponential",
    "softmax", "log_softmax",
)  # fmt: skip
"""Keras 3 activation names (``swish`` = ``silu``, ``hard_swish`` = ``hard_silu``), plus ``hard_sigmoid_keras2``:
Keras 2's ``clip(0.2 x + 0.5, 0, 1)``, which Keras 3 replaced by ``relu6(x + 3) / 6`` under the same name.
Legacy files say ``hard_sigmoid`` and mean the Keras 2 formula; the file readers translate."""
MERGE_MODES: tuple[str | None, ...] = ("concat", "sum", "mul", "ave", None)
SPEC_FORMAT_VERSION = 2

_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SpecError(ValueError):
    """A model description that cannot be built; the message names the part at fault."""


# ---------------------------------------------------------------------------
# Per-sample shapes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Frames:
    """A sequence of grids: ``(time, height, width, channels)``; ``time=None`` means any length."""

    time: int | None
    height: int
    width: int
    channels: int

    @property
    def dims(self) -> tuple[int | None, ...]:
        return (self.time, self.height, self.width, self.channels)

    @property
    def grid(self) -> Grid:
        return Grid(self.height, self.width, self.channels)


@dataclass(frozen=True)
class Grid:
    """One grid: ``(height, width, channels)`` (a ConvLSTM2D's last state, or a single frame)."""

    height: int
    width: int
    channels: int

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.height, self.width, self.channels)


@dataclass(frozen=True)
class Steps:
    """A sequence of feature vectors: ``(time, features)``."""

    time: int | None
    features: int

    @property
    def dims(self) -> tuple[int | None, ...]:
        return (self.time, self.features)


@dataclass(frozen=True)
class Vector:
    """One feature vector: ``(features,)``."""

    features: int

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.features,)


Shape = Frames | Grid | Steps | Vector


def describe_shape(shape: Shape) -> str:
    """E.g. ``frames (time, height, width, channels) = (100, 8, 8, 32)``."""
    axes = {
        Frames: "frames (time, height, width, channels)",
        Grid: "a grid (height, width, channels)",
        Steps: "a sequence (time, features)",
        Vector: "a vector (features,)",
    }[type(shape)]
    dims = ", ".join("*" if d is None else str(d) for d in shape.dims)
    return f"{axes} = ({dims}{',' if len(shape.dims) == 1 else ''})"


def _grid_of(shape: Frames | Grid) -> Grid:
    """The grid a 2D layer works on: each frame of ``Frames``, or the ``Grid`` itself."""
    return shape.grid if isinstance(shape, Frames) else shape


def _with_grid(shape: Frames | Grid, grid: Grid) -> Frames | Grid:
    return Frames(shape.time, grid.height, grid.width, grid.channels) if isinstance(shape, Frames) else grid


def keras_dims(shape: Shape, data_format: str) -> tuple[int | None, ...]:
    """``shape``'s dims in the Keras model's layout: for ``channels_first``, frames ``(time, channels, height, width)``
    and a grid ``(channels, height, width)``; otherwise (and for sequences and vectors) ``shape.dims``."""
    if data_format == "channels_first" and isinstance(shape, (Frames, Grid)):
        *outer, height, width, channels = shape.dims
        return (*outer, channels, height, width)
    return shape.dims


def fixed_dims(dims: SequenceABC[int | None]) -> tuple[int, ...]:
    """``dims`` as ints, every axis known; a ValueError where the time axis is left open (``None``)."""
    fixed = tuple(d for d in dims if d is not None)
    if len(fixed) < len(dims):
        raise ValueError("the spec leaves timesteps open: pass timesteps=")
    return fixed


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _pair(value: int | SequenceABC[int], what: str) -> tuple[int, int]:
    first, second = _ints(value, 2, what)
    return first, second


def _ints(value: int | SequenceABC[int], n: int, what: str) -> tuple[int, ...]:
    """Normalise ``3`` or ``(3, 3, ...)`` to ``n`` positive ints."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected an int or {n} ints, got {value!r}")
    if isinstance(value, int):
        out = (value,) * n
    elif (
        isinstance(value, SequenceABC) and len(value) == n and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        out = tuple(int(v) for v in value)
    else:
        raise SpecError(f"{what}: expected an int or {n} ints, got {value!r}")
    if min(out) < 1:
        raise SpecError(f"{what}: expected positive sizes, got {out}")
    return out


def _check_choice(value: Any, choices: tuple[Any, ...], what: str) -> None:
    if value not in choices:
        raise SpecError(f"{what}: expected one of {', '.join(map(repr, choices))}, got {value!r}")


ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
"""Keras' second names for two activations; a spec stores the first name, as Keras' saved configs do."""


def _set_activation(layer: Any, attribute: str) -> None:
    """Check an activation field and store its canonical name (``swish`` -> ``silu``)."""
    value = getattr(layer, attribute)
    _check_choice(value, ACTIVATIONS, f"{layer.label} {attribute}")
    object.__setattr__(layer, attribute, ACTIVATION_ALIASES.get(value, value))


def _check_positive(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{what}: expected a positive int, got {value!r}")


def _check_bool(value: Any, what: str) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{what}: expected true or false, got {value!r}")


def _check_rate(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise SpecError(f"{what}: expected a number in [0, 1), got {value!r}")


def _check_number(value: Any, what: str, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (positive and value <= 0):
        raise SpecError(f"{what}: expected a {'positive ' if positive else ''}finite number, got {value!r}")


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or (name and not _NAME_PATTERN.match(name)):
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


class _Layer:
    """What every layer has: a ``kind`` (its JSON tag), a ``name``, and shape inference."""

    kind: ClassVar[str]
    name: str
    omitted_defaults: ClassVar[tuple[str, ...]] = ()
    """Fields left out of the JSON while they hold their default, so older readers still read the spec."""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name or '(unnamed)'}"

    def output_shape(self, shape: Shape) -> Shape:  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def _refuse(self, shape: Shape, expected: str, hint: str = "") -> SpecError:
        return SpecError(f"{self.label} expects {expected}, got {describe_shape(shape)}" + (f"; {hint}" if hint else ""))


def _check_window_fits(layer: _Layer, grid: Grid, out: Grid) -> None:
    if min(out.height, out.width) < 1:
        raise SpecError(
            f"{layer.label} shrinks the frame below 1x1: input (height, width, channels) = {grid.dims}, "
            f"output = {out.dims}; use padding='same', a smaller kernel or stride, or a larger grid"
        )


def _conv_output_grid(layer: Conv2D | ConvLSTM2D, grid: Grid) -> Grid:
    """The grid a 2D convolution (with its kernel, strides, padding and dilation) makes of ``grid``."""
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    height, width = output_size(grid.height, kh, sh, layer.padding, dh), output_size(grid.width, kw, sw, layer.padding, dw)
    out = Grid(height, width, layer.filters)
    _check_window_fits(layer, grid, out)
    return out


_NOT_2D_HINT = "2D layers go before the Flatten (or GlobalPool2D) that turns each frame into features"


@dataclass(frozen=True)
class Conv2D(_Layer):
    """A 2D convolution: on frames, applied to every frame (Keras ``TimeDistributed(Conv2D)``); on a grid, to the grid.

    Keras kernel ``(kh, kw, in, filters)``; torch ``nn.Conv2d`` weight ``(filters, in, kh, kw)``.
    """

    kind: ClassVar[str] = "conv2d"
    filters: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = "valid"
    dilation_rate: tuple[int, int] = (1, 1)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        _check_positive(self.filters, f"{self.label} filters")
        object.__setattr__(self, "kernel_size", _pair(self.kernel_size, f"{self.label} kernel_size"))
        object.__setattr__(self, "strides", _pair(self.strides, f"{self.label} strides"))
        object.__setattr__(self, "dilation_rate", _pair(self.dilation_rate, f"{self.label} dilation_rate"))
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise SpecError(f"{self.label}: strides > 1 with dilation_rate > 1 is not allowed (Keras refuses it too)")
        _check_choice(self.padding, PADDINGS, f"{self.label} padding")
        _set_activation(self, "activation")
        _check_bool(self.use_bias, f"{self.label} use_bias")
        _check_name(self.name)

    def output_grid(self, grid: Grid) -> Grid:
        return _conv_output_grid(self, grid)

    def output_shape(self, shape: Shape) -> Shape:
        if not isinstance(shape, (Frames, Grid)):
            raise self._refuse(shape, "frames or a grid", _NOT_2D_HINT)
        return _with_grid(shape, self.output_grid(_grid_of(shape)))


@dataclass(frozen=True)
class Pool2D(_Layer):
    """Max or average pooling (Keras ``MaxPooling2D`` / ``AveragePooling2D``), per frame on frames.

    ``strides=None`` means "same as ``pool_size``", as in Keras (stored as the pool size). With
    ``padding="same"``, max pooling ignores the padded cells and average pooling averages over
    the valid cells only (TensorFlow's semantics, which Keras documents).
    """

    kind: ClassVar[str] = "pool2d"
    mode: Literal["max", "avg"]
    pool_size: tuple[int, int] = (2, 2)
    strides: tuple[int, int] | None = None
    padding: Padding = "valid"
    name: str = ""

    def __post_init__(self) -> None:
        _check_choice(self.mode, ("max", "avg"), f"{self.label} mode")
        object.__setattr__(self, "pool_size", _pair(self.pool_size, f"{self.label} pool_size"))
        strides = self.pool_size if self.strides is None else _pair(self.strides, f"{self.label} strides")
        object.__setattr__(self, "strides", strides)
        _check_choice(self.padding, PADDINGS, f"{self.label} padding")
        _check_name(self.name)

    @property
    def window_strides(self) -> tuple[int, int]:
        """The strides the window moves by: ``strides``, or ``pool_size`` where that is None."""
        return self.pool_size if self.strides is None else self.strides

    def output_grid(self, grid: Grid) -> Grid:
        (kh, kw), (sh, sw) = self.pool_size, self.window_strides
        out = Grid(output_size(grid.height, kh, sh, self.padding), output_size(grid.width, kw, sw, self.padding), grid.channels)
        _check_window_fits(self, grid, out)
        return out

    def output_shape(self, shape: Shape) -> Shape:
        if not isinstance(shape, (Frames, Grid)):
            raise self._refuse(shape, "frames or a grid", _NOT_2D_HINT)
        return _with_grid(shape, self.output_grid(_grid_of(shape)))


@dataclass(frozen=True)
class GlobalPool2D(_Layer):
    """Average or max over height and width (Keras ``GlobalAveragePooling2D`` / ``GlobalMaxPooling2D``).

    Frames ``(T, H, W, C)`` -> steps ``(T, C)``; a grid ``(H, W, C)`` -> a vector ``(C,)``.
    """

    kind: ClassVar[str] = "global_pool2d"
    mode: Literal["avg", "max"] = "avg"
    name: str = ""

    def __post_init__(self) -> None:
        _check_choice(self.mode, ("avg", "max"), f"{self.label} mode")
        _check_name(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if isinstance(shape, Frames):
            return Steps(shape.time, shape.channels)
        if isinstance(shape, Grid):
            return Vector(shape.channels)
        raise self._refuse(shape, "frames or a grid")


@dataclass(frozen=True)
class Flatten(_Layer):
    """Flatten each frame into features (Keras ``TimeDistributed(Flatten())``), or a grid into a vector.

    ``data_format`` is Keras' Flatten's own: ``channels_first`` moves axis 1 of what the layer sees
    (a frame's channels, in a channels_first model) to the end before flattening. So Keras flattens a
    frame in (H, W, C) order, except for a ``channels_last`` Flatten in a ``channels_first`` model: (C, H, W)
    (see :meth:`keras_order`). torch always flattens (C, H, W); the converter permutes the next weighted
    layer's input rows once where the orders differ, so the torch model flattens in its natural order.
    """

    kind: ClassVar[str] = "flatten"
    omitted_defaults: ClassVar[tuple[str, ...]] = ("data_format",)
    data_format: DataFormat = "channels_last"
    name: str = ""

    def __post_init__(self) -> None:
        _check_choice(self.data_format, DATA_FORMATS, f"{self.label} data_format")
        _check_name(self.name)

    def keras_order(self, model_format: str) -> Literal["hwc", "chw"]:
        """The order Keras flattens a frame in, in a model whose frames are ``model_format``."""
        return "chw" if model_format == "channels_first" and self.data_format == "channels_last" else "hwc"

    def check_data_format(self, model_format: str) -> None:
        """Refuse ``data_format='channels_first'`` in a channels_last model (Keras would flatten (W, C, H))."""
        if model_format == "channels_last" and self.data_format == "channels_first":
            raise SpecError(
                f"{self.label}: data_format='channels_first' on channels_last frames moves the height axis last before "
                "flattening (W, C, H order), which lstm2d does not implement; use it in a channels_first model only"
            )

    def output_shape(self, shape: Shape) -> Shape:
        if isinstance(shape, Frames):
            return Steps(shape.time, shape.height * shape.width * shape.channels)
        if isinstance(shape, Grid):
            return Vector(shape.height * shape.width * shape.channels)
        raise self._refuse(shape, "frames or a grid", "it is already flat")


@dataclass(frozen=True)
class BatchNorm(_Layer):
    """Keras ``BatchNormalization`` over the channel (or feature) axis, Keras' defaults and update rule. That is the
    last axis, except on frames and grids in a channels_first model: there the Keras layer gets the channel axis.

    ``per_timestep=True`` is Keras' ``TimeDistributed(BatchNormalization())``: in training each
    timestep is normalised with its own batch statistics and the moving averages are updated once
    per timestep, in time order. ``per_timestep=False`` is ``BatchNormalization()`` on the whole
    sequence (statistics over batch and time together, one update). At inference both use the moving
    averages and compute the same function.
    """

    kind: ClassVar[str] = "batch_norm"
    epsilon: float = 1e-3
    momentum: float = 0.99
    center: bool = True
    scale: bool = True
    per_timestep: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        _check_number(self.epsilon, f"{self.label} epsilon", positive=True)
        _check_rate(self.momentum, f"{self.label} momentum")
        for attribute in ("center", "scale", "per_timestep"):
            _check_bool(getattr(self, attribute), f"{self.label} {attribute}")
        _check_name(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if self.per_timestep and not isinstance(shape, (Frames, Steps)):
            raise self._refuse(shape, "frames or a sequence (per_timestep=True needs a time axis)")
        return shape

    def features(self, shape: Shape) -> int:
        """Length of the normalised (channel or feature) axis."""
        return shape.channels if isinstance(shape, (Frames, Grid)) else shape.features


@dataclass(frozen=True)
class Dropout(_Layer):
    """Keras ``Dropout``: identity at inference; in training, zero with probability ``rate`` and scale by 1/(1 - rate)."""

    kind: ClassVar[str] = "dropout"
    rate: float = 0.5
    name: str = ""

    def __post_init__(self) -> None:
        _check_rate(self.rate, f"{self.label} rate")
        _check_name(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class Activation(_Layer):
    """Keras ``Activation``: an element-wise function (softmax over the last axis in Keras layout)."""

    kind: ClassVar[str] = "activation"
    activation: str = "linear"
    name: str = ""

    def __post_init__(self) -> None:
        _set_activation(self, "activation")
        _check_name(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class Masking(_Layer):
    """Keras ``Masking``: a timestep whose features all equal ``mask_value`` is skipped by the recurrent layers.

    Skipped means Keras' semantics: the state is carried through the step unchanged and, with
    ``return_sequences``, the previous output is repeated there.
    """

    kind: ClassVar[str] = "masking"
    mask_value: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        _check_number(self.mask_value, f"{self.label} mask_value")
        _check_name(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if not isinstance(shape, Steps):
            raise self._refuse(shape, "a sequence (time, features)", "put Masking after the per-frame Flatten")
        return shape


@dataclass(frozen=True)
class Dense(_Layer):
    """A fully connected layer on the last axis (per timestep on a sequence, like Keras)."""

    kind: ClassVar[str] = "dense"
    units: int
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        _check_positive(self.units, f"{self.label} units")
        _set_activation(self, "activation")
        _check_bool(self.use_bias, f"{self.label} use_bias")
        _check_name(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if isinstance(shape, Steps):
            return Steps(shape.time, self.units)
        if isinstance(shape, Vector):
            return Vector(self.units)
        raise self._refuse(shape, "a sequence or a vector", "flatten each frame first (Flatten or GlobalPool2D)")


# -- recurrent layers -----------------------------------------------------------


@dataclass(frozen=True)
class _Recurrent(_Layer):
    """Options shared by the recurrent layers (Keras names and defaults)."""

    units: int
    return_sequences: bool = False
    go_backwards: bool = False
    activation: str = "tanh"
    use_bias: bool = True
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    name: str = ""

    gates: ClassVar[int]

    def __post_init__(self) -> None:
        _check_positive(self.units, f"{self.label} units")
        for attribute in ("return_sequences", "go_backwards", "use_bias"):
            _check_bool(getattr(self, attribute), f"{self.label} {attribute}")
        _set_activation(self, "activation")
        _check_rate(self.dropout, f"{self.label} dropout")
        _check_rate(self.recurrent_dropout, f"{self.label} recurrent_dropout")
        _check_name(self.name)

    def output_shape(self, shape: Shape) -> Steps | Vector:
        if not isinstance(shape, Steps):
            hint = (
                "flatten each frame first (Flatten); in Keras, an LSTM after a Conv2D without "
                "TimeDistributed(Flatten()) fails with 'expected ndim=3, found ndim=2'"
                if isinstance(shape, (Frames, Grid))
                else "the previous recurrent layer must return sequences (return_sequences=True)"
            )
            raise self._refuse(shape, "a sequence (time, features)", hint)
        return Steps(shape.time, self.units) if self.return_sequences else Vector(self.units)


@dataclass(frozen=True)
class _Gated(_Recurrent):
    """A recurrent layer with gates, which use ``recurrent_activation`` (LSTM, GRU)."""

    recurrent_activation: str = "sigmoid"

    def __post_init__(self) -> None:
        super().__post_init__()
        _set_activation(self, "recurrent_activation")


@dataclass(frozen=True)
class LSTM(_Gated):
    """Keras ``LSTM``: gates i, f, c, o; one bias. Non-default activations run on lstm2d's exact (slower) cell.

    ``unit_forget_bias`` only changes the initial weights (a forget-gate bias of 1), as in Keras.
    """

    kind: ClassVar[str] = "lstm"
    gates: ClassVar[int] = 4
    unit_forget_bias: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_bool(self.unit_forget_bias, f"{self.label} unit_forget_bias")


@dataclass(frozen=True)
class GRU(_Gated):
    """Keras ``GRU``: gates z, r, h. ``reset_after=True`` (Keras 3's default) has an input and a recurrent bias
    and is torch's ``nn.GRU``; ``reset_after=False`` (Keras 2's default) applies the reset gate before the
    recurrent matmul and has one bias: lstm2d runs it on an exact cell of its own."""

    kind: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3
    reset_after: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_bool(self.reset_after, f"{self.label} reset_after")


@dataclass(frozen=True)
class SimpleRNN(_Recurrent):
    """Keras ``SimpleRNN``: ``h = activation(x W + h U + b)``; ``nn.RNN`` for tanh and relu."""

    kind: ClassVar[str] = "simple_rnn"
    gates: ClassVar[int] = 1


RecurrentLayer = LSTM | GRU | SimpleRNN
RECURRENT_KINDS: dict[str, type] = {cls.kind: cls for cls in (LSTM, GRU, SimpleRNN)}


@dataclass(frozen=True)
class Bidirectional(_Layer):
    """Keras ``Bidirectional``: the layer forwards and a copy backwards, the backward output flipped back to
    forward time, then merged (``concat``, ``sum``, ``mul``, ``ave``; ``None``: two outputs, last layer only).

    The wrapped layer's ``return_sequences`` decides the output; its own name is not used (Keras names
    the directions ``forward_<name>`` / ``backward_<name>``).
    """

    kind: ClassVar[str] = "bidirectional"
    layer: RecurrentLayer
    merge_mode: str | None = "concat"
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.layer, Mapping):  # from JSON
            object.__setattr__(self, "layer", _layer_from_dict(self.layer, f"{self.label} layer", RECURRENT_KINDS))
        if not isinstance(self.layer, (LSTM, GRU, SimpleRNN)):
            raise SpecError(f"{self.label} layer: expected an LSTM, GRU or SimpleRNN, got {self.layer!r}")
        if self.layer.go_backwards:
            raise SpecError(f"{self.label}: the wrapped layer must not go backwards (the wrapper runs both directions)")
        _check_choice(self.merge_mode, MERGE_MODES, f"{self.label} merge_mode")
        _check_name(self.name)

    @property
    def outputs(self) -> int:
        return 1 if self.merge_mode is not None else 2

    def output_shape(self, shape: Shape) -> Shape:
        single = self.layer.output_shape(shape)
        if self.merge_mode != "concat":
            return single
        return Steps(single.time, 2 * single.features) if isinstance(single, Steps) else Vector(2 * single.features)


# -- layers that keep the grid through time ------------------------------------------


@dataclass(frozen=True)
class ConvLSTM2D(_Layer):
    """Keras ``ConvLSTM2D``: an LSTM whose matmuls are convolutions, so the state stays a grid.

    Gates i, f, c, o; the input convolution uses the layer's kernel, strides, padding and dilation;
    the recurrent one is always ``same``, stride 1, no bias. Frames in; frames out with
    ``return_sequences``, else the last state as a grid.
    """

    kind: ClassVar[str] = "conv_lstm2d"
    filters: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = "valid"
    dilation_rate: tuple[int, int] = (1, 1)
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    unit_forget_bias: bool = True
    return_sequences: bool = False
    go_backwards: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        _check_positive(self.filters, f"{self.label} filters")
        object.__setattr__(self, "kernel_size", _pair(self.kernel_size, f"{self.label} kernel_size"))
        object.__setattr__(self, "strides", _pair(self.strides, f"{self.label} strides"))
        object.__setattr__(self, "dilation_rate", _pair(self.dilation_rate, f"{self.label} dilation_rate"))
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise SpecError(f"{self.label}: strides > 1 with dilation_rate > 1 is not allowed (Keras refuses it too)")
        _check_choice(self.padding, PADDINGS, f"{self.label} padding")
        _set_activation(self, "activation")
        _set_activation(self, "recurrent_activation")
        for attribute in ("use_bias", "unit_forget_bias", "return_sequences", "go_backwards"):
            _check_bool(getattr(self, attribute), f"{self.label} {attribute}")
        _check_rate(self.dropout, f"{self.label} dropout")
        _check_rate(self.recurrent_dropout, f"{self.label} recurrent_dropout")
        _check_name(self.name)

    def output_grid(self, grid: Grid) -> Grid:
        return _conv_output_grid(self, grid)

    def output_shape(self, shape: Shape) -> Shape:
        if not isinstance(shape, Frames):
            raise self._refuse(shape, "frames (time, height, width, channels)")
        grid = self.output_grid(shape.grid)
        return _with_grid(shape, grid) if self.return_sequences else grid


@dataclass(frozen=True)
class Conv3D(_Layer):
    """Keras ``Conv3D`` over (time, height, width) of frames, e.g. a next-frame head. Kernel ``(kt, kh, kw)``."""

    kind: ClassVar[str] = "conv3d"
    filters: int
    kernel_size: tuple[int, int, int]
    strides: tuple[int, int, int] = (1, 1, 1)
    padding: Padding = "valid"
    dilation_rate: tuple[int, int, int] = (1, 1, 1)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        _check_positive(self.filters, f"{self.label} filters")
        object.__setattr__(self, "kernel_size", _ints(self.kernel_size, 3, f"{self.label} kernel_size"))
        object.__setattr__(self, "strides", _ints(self.strides, 3, f"{self.label} strides"))
        object.__setattr__(self, "dilation_rate", _ints(self.dilation_rate, 3, f"{self.label} dilation_rate"))
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise SpecError(f"{self.label}: strides > 1 with dilation_rate > 1 is not allowed (Keras refuses it too)")
        _check_choice(self.padding, PADDINGS, f"{self.label} padding")
        _set_activation(self, "activation")
        _check_bool(self.use_bias, f"{self.label} use_bias")
        _check_name(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if not isinstance(shape, Frames):
            raise self._refuse(shape, "frames (time, height, width, channels)")
        if shape.time is None and (self.strides[0] > 1 or (self.padding == "valid" and self.kernel_size[0] > 1)):
            raise SpecError(
                f"{self.label}: with any number of timesteps (time=None), the time axis needs stride 1 and, "
                "for a time kernel over 1, padding='same'"
            )
        (kt, kh, kw), (st, sh, sw), (dt, dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        time = None if shape.time is None else output_size(shape.time, kt, st, self.padding, dt)
        height, width = output_size(shape.height, kh, sh, self.padding, dh), output_size(shape.width, kw, sw, self.padding, dw)
        if min(s for s in (time, height, width) if s is not None) < 1:
            raise SpecError(
                f"{self.label} shrinks the input below one cell: input (time, height, width) = "
                f"{(shape.time, shape.height, shape.width)}, output = {(time, height, width)}"
            )
        return Frames(time, height, width, self.filters)

    def check_data_format(self, model_format: str) -> None:
        """Refuse a channels_first model: Keras' Conv3D cannot read its frames as (time, height, width) volumes."""
        if model_format == "channels_first":
            raise SpecError(
                f"{self.label}: a channels_first model's frames are (batch, time, channels, height, width), which Keras' "
                "Conv3D cannot read as (time, height, width) volumes: data_format='channels_first' would take the time "
                "axis as the channels, 'channels_last' the width; Conv3D needs a channels_last model"
            )


Layer = (
    Conv2D | Pool2D | GlobalPool2D | Flatten | BatchNorm | Dropout | Activation | Masking | Dense
    | LSTM | GRU | SimpleRNN | Bidirectional | ConvLSTM2D | Conv3D
)  # fmt: skip
LAYER_KINDS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        Conv2D, Pool2D, GlobalPool2D, Flatten, BatchNorm, Dropout, Activation, Masking, Dense,
        LSTM, GRU, SimpleRNN, Bidirectional, ConvLSTM2D, Conv3D,
    )
}  # fmt: skip
RECURRENT_TYPES = (LSTM, GRU, SimpleRNN, Bidirectional)
SPATIAL_TYPES = (Conv2D, Pool2D, GlobalPool2D, ConvLSTM2D)
"""Layers whose Keras form carries the model's ``data_format`` (Conv3D too, but only channels_last)."""
_PASSES_MASK = (Dropout, Activation, Dense)  # layers a Keras mask flows through unchanged on its way to an RNN


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
    def shape(self) -> Frames:
        return Frames(self.timesteps, self.height, self.width, self.channels)


@dataclass(frozen=True)
class LayerShapes:
    """One layer with the per-sample shape it receives and the one it returns."""

    layer: Layer
    input: Shape
    output: Shape


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: an input of frames and a linear stack of layers.

    Layer names left empty are filled in as ``<kind>_<n>`` (``conv2d_1``, ``pool2d_1``, ``flatten_1``,
    ``lstm_1``, ``dense_1``, counted per kind from 1); names are unique across the model. Validation
    walks the shapes layer by layer and names the first layer that cannot take its input.

    ``data_format`` is the Keras model's frame layout: ``channels_last`` (Keras' default), input
    ``(batch, time, height, width, channels)``, or ``channels_first``, input ``(batch, time, channels,
    height, width)`` with every spatial layer ``data_format="channels_first"`` and BatchNormalization on
    the channel axis. Shapes here stay (height, width, channels); on the torch side only the flatten
    permutation (see :meth:`flatten_order`) and the axis of a softmax on frames follow it.
    """

    input: InputSpec
    layers: tuple[Layer, ...]
    name: str = "lstm2d"
    data_format: DataFormat = "channels_last"

    def __post_init__(self) -> None:
        if not isinstance(self.input, InputSpec):
            raise SpecError(f"input: expected an InputSpec, got {self.input!r}")
        object.__setattr__(self, "layers", tuple(self.layers))
        for layer in self.layers:
            if not isinstance(layer, tuple(LAYER_KINDS.values())):
                raise SpecError(f"layers: expected lstm2d.spec layers, got {layer!r}")
        if not self.layers:
            raise SpecError("layers: expected at least one layer, got none")
        self._assign_names()
        shapes = self.layer_shapes()  # raises, naming the layer, if any layer cannot take its input
        self._check_masks()
        self._check_data_format()
        for entry in shapes[:-1]:
            if isinstance(entry.layer, Bidirectional) and entry.layer.outputs == 2:
                raise SpecError(f"{entry.layer.label}: merge_mode=None gives two outputs, so it must be the last layer")

    def _assign_names(self) -> None:
        counters: dict[str, int] = {}
        taken = {layer.name for layer in self.layers if layer.name}
        named: list[Layer] = []
        for layer in self.layers:
            if not layer.name:
                while True:
                    counters[layer.kind] = counters.get(layer.kind, 0) + 1
                    candidate = f"{layer.kind}_{counters[layer.kind]}"
                    if candidate not in taken:
                        taken.add(candidate)
                        layer = replace(layer, name=candidate)
                        break
            named.append(layer)
        object.__setattr__(self, "layers", tuple(named))
        seen: set[str] = set()
        for layer in self.layers:
            if layer.name in seen:
                raise SpecError(f"layer name {layer.name!r} is used twice; names must be unique")
            seen.add(layer.name)

    def _check_data_format(self) -> None:
        """The layers Keras cannot run consistently in this data format are refused, naming the layer."""
        _check_choice(self.data_format, DATA_FORMATS, "model data_format")
        for layer in self.layers:
            if isinstance(layer, (Flatten, Conv3D)):
                layer.check_data_format(self.data_format)
        if self.data_format == "channels_first" and not any(_shows_data_format(layer) for layer in self.layers):
            raise SpecError(
                "model data_format='channels_first' needs a layer whose Keras form shows it (Conv2D, Pool2D, GlobalPool2D, "
                "ConvLSTM2D, or Flatten(data_format='channels_first')): without one, the Keras model is the channels_last "
                "model with input (height, width, channels) = (channels, height, width), and a file could not tell the two "
                "apart; describe it that way"
            )

    def _check_masks(self) -> None:
        """A mask must reach a recurrent layer through layers that pass it unchanged, as in Keras."""
        masked_by: Masking | None = None
        for layer in self.layers:
            if isinstance(layer, Masking):
                if masked_by is not None:
                    raise SpecError(f"{layer.label}: the sequence is already masked by {masked_by.name}")
                masked_by = layer
            elif masked_by is None or isinstance(layer, _PASSES_MASK):
                continue
            elif isinstance(layer, RECURRENT_TYPES):
                inner = layer.layer if isinstance(layer, Bidirectional) else layer
                if not inner.return_sequences:
                    masked_by = None
            else:
                raise SpecError(
                    f"{layer.label} after {masked_by.label}: only Dropout, Activation, Dense and recurrent layers "
                    "may sit between a Masking layer and the recurrent layer that uses the mask"
                )

    # -- derived shapes -------------------------------------------------------------

    def layer_shapes(self) -> list[LayerShapes]:
        """Every layer with its input and output shape per sample, in model order."""
        shapes: list[LayerShapes] = []
        shape: Shape = self.input.shape
        for layer in self.layers:
            out = layer.output_shape(shape)
            shapes.append(LayerShapes(layer, shape, out))
            shape = out
        return shapes

    def output_shape(self) -> tuple[int | None, ...]:
        """Shape of the model output for one sample in the spec's (height, width, channels) terms (``None`` for a
        free time axis); the Keras model's own is :meth:`keras_output_shape`.

        With a final ``Bidirectional(merge_mode=None)`` the model has two outputs of this shape.
        """
        return self.layer_shapes()[-1].output.dims

    def keras_output_shape(self) -> tuple[int | None, ...]:
        """Shape of the Keras model's output for one sample, in its ``data_format`` (frames and grids channels first
        for ``channels_first``)."""
        return keras_dims(self.layer_shapes()[-1].output, self.data_format)

    @property
    def keras_input_shape(self) -> tuple[int | None, ...]:
        """Shape of the Keras model's input for one sample: ``(time, height, width, channels)`` or, for
        ``channels_first``, ``(time, channels, height, width)``."""
        return keras_dims(self.input.shape, self.data_format)

    def flatten_order(self, layer: Flatten) -> Literal["hwc", "chw"]:
        """The order the Keras model flattens a frame (or grid) in at ``layer`` (see :meth:`Flatten.keras_order`)."""
        return layer.keras_order(self.data_format)

    @property
    def outputs(self) -> int:
        """Number of model outputs (2 only for a final ``Bidirectional(merge_mode=None)``)."""
        last = self.layers[-1]
        return last.outputs if isinstance(last, Bidirectional) else 1

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers: {[layer.name for layer in self.layers]}")

    # -- serialisation --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; every layer carries its ``kind``. ``data_format`` is written only for ``channels_first``,
        so a channels_last spec reads in lstm2d versions from before channels_first models."""
        return {
            "format_version": SPEC_FORMAT_VERSION,
            "name": self.name,
            **({"data_format": self.data_format} if self.data_format != "channels_last" else {}),
            "input": asdict(self.input),
            "layers": [_layer_dict(layer) for layer in self.layers],
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
        _check_keys(data, {"format_version", "name", "data_format", "input", "layers"}, "model spec")
        for required in ("input", "layers"):
            if required not in data:
                raise SpecError(f"model spec: missing {required!r}")
        input_data = data["input"]
        if not isinstance(input_data, Mapping):
            raise SpecError(f"model spec input: expected an object, got {input_data!r}")
        _check_keys(input_data, {f.name for f in fields(InputSpec)}, "model spec input")
        try:
            input_spec = InputSpec(**input_data)
        except TypeError as exc:
            raise SpecError(f"model spec input: {exc}") from None
        items = data["layers"]
        if not isinstance(items, list):
            raise SpecError(f"model spec layers: expected a list of layers, got {items!r}")
        layers = tuple(_layer_from_dict(item, f"layers[{i}]", LAYER_KINDS) for i, item in enumerate(items))
        return cls(input_spec, layers, name=str(data.get("name", "lstm2d")), data_format=data.get("data_format", "channels_last"))

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


def _shows_data_format(layer: Layer) -> bool:
    """Whether the Keras form of ``layer`` says the model's frames are channels_first (see ``SPATIAL_TYPES``)."""
    return isinstance(layer, SPATIAL_TYPES) or (isinstance(layer, Flatten) and layer.data_format == "channels_first")


def _layer_dict(layer: Layer) -> dict[str, Any]:
    """``{"kind": ..., <fields>..., "name": ...}``; a wrapped layer nests as its own dict."""
    out: dict[str, Any] = {"kind": layer.kind}
    for f in sorted(fields(layer), key=lambda f: f.name == "name"):  # name last, whatever the class hierarchy
        value = getattr(layer, f.name)
        if f.name in layer.omitted_defaults and value == f.default:
            continue
        if isinstance(value, (LSTM, GRU, SimpleRNN)):  # the layer a Bidirectional wraps
            out[f.name] = _layer_dict(value)
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _check_keys(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(f"{what}: unknown keys {unknown}; expected some of {sorted(allowed)}")


def _layer_from_dict(item: Any, what: str, kinds: Mapping[str, type]) -> Any:
    if not isinstance(item, Mapping) or "kind" not in item:
        raise SpecError(f"{what}: expected a layer object with a 'kind', got {item!r}")
    kind = item["kind"]
    if kind not in kinds:
        raise SpecError(f"{what}: unknown layer kind {kind!r}; expected one of {sorted(kinds)}")
    cls = kinds[kind]
    values = {k: v for k, v in item.items() if k != "kind"}
    _check_keys(values, {f.name for f in fields(cls)}, f"{what} ({kind})")
    try:
        return cls(**values)
    except TypeError as exc:
        raise SpecError(f"{what} ({kind}): {exc}") from None


__all__ = [
    "ACTIVATIONS",
    "DATA_FORMATS",
    "GRU",
    "LSTM",
    "Activation",
    "BatchNorm",
    "Bidirectional",
    "Conv2D",
    "Conv3D",
    "ConvLSTM2D",
    "DataFormat",
    "Dense",
    "Dropout",
    "Flatten",
    "Frames",
    "GlobalPool2D",
    "Grid",
    "InputSpec",
    "Layer",
    "LayerShapes",
    "Masking",
    "ModelSpec",
    "Pool2D",
    "Shape",
    "SimpleRNN",
    "SpecError",
    "Steps",
    "Vector",
    "describe_shape",
    "fixed_dims",
    "keras_dims",
    "output_size",
    "same_padding",
]
