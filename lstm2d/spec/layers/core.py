"""Core layers: Keras ``Dense``, ``Dropout``, ``Activation``, ``Masking``, ``Flatten``, ``Reshape``, ``RepeatVector`` and
``Permute``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, as_tuple, data_format_of, keras_config
from lstm2d.spec.shapes import Shape, SpecError

DATA_FORMATS: tuple[str, ...] = ("channels_last", "channels_first")
DataFormat = Literal["channels_last", "channels_first"]
"""Where a Keras model keeps the channels of its frames: ``(batch, time, height, width, channels)`` or
``(batch, time, channels, height, width)`` (Keras' ``data_format`` of its spatial layers)."""


@dataclass(frozen=True)
class Dense(Layer):
    """A fully connected layer on the last axis of a tensor of any rank, like Keras: per timestep on a sequence, per
    pixel on frames and grids (their channels; the torch model runs it there as a 1x1 convolution)."""

    kind: ClassVar[str] = "dense"
    keras_classes: ClassVar[tuple[str, ...]] = ("Dense",)
    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    units: int
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        checks.positive(self.units, f"{self.label} units")
        object.__setattr__(self, "activation", checks.activation(self.activation, f"{self.label} activation"))
        checks.boolean(self.use_bias, f"{self.label} use_bias")
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        return Shape((*shape.dims[:-1], self.units))

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        """Keras' Dense reads the last axis of what it gets: the width of a channels_first model's frames and grids."""
        if model_format == "channels_first" and inputs and inputs[0].rank in (3, 4):
            raise SpecError(
                f"{self.label}: on channels_first frames or grids Keras' Dense mixes the width (their last axis); lstm2d "
                "runs Dense on frames and grids in channels_last models only (flatten them first)"
            )

    def describe(self) -> str:
        return f"Dense({self.units}{'' if self.activation == 'linear' else ', ' + self.activation})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Dense", name=context.name, units=self.units, activation=self.activation, use_bias=self.use_bias)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        units = config.get("units")  # the file's value, None if missing: Dense refuses it, naming the layer
        activation = context.activation(config, "activation", "linear")
        return cls(units, activation, config.get("use_bias", True), context.name)  # type: ignore[arg-type]  # units, as above


@dataclass(frozen=True)
class Dropout(Layer):
    """Keras ``Dropout``: identity at inference; in training, zero with probability ``rate`` and scale by 1/(1 - rate)."""

    kind: ClassVar[str] = "dropout"
    keras_classes: ClassVar[tuple[str, ...]] = ("Dropout",)
    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True
    rate: float = 0.5
    name: str = ""

    def __post_init__(self) -> None:
        checks.rate(self.rate, f"{self.label} rate")
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def describe(self) -> str:
        return f"Dropout({self.rate})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Dropout", name=context.name, rate=self.rate)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect(config, noise_shape=None)
        return cls(config.get("rate", 0.5), context.name)


@dataclass(frozen=True)
class Activation(Layer):
    """Keras ``Activation``: an element-wise function (softmax over the last axis in Keras layout)."""

    kind: ClassVar[str] = "activation"
    keras_classes: ClassVar[tuple[str, ...]] = ("Activation",)
    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True  # softmax too: permuting its inputs only permutes its outputs
    activation: str = "linear"
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "activation", checks.activation(self.activation, f"{self.label} activation"))
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def describe(self) -> str:
        return f"Activation({self.activation})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Activation", name=context.name, activation=self.activation)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(context.activation(config, "activation", "linear"), context.name)


@dataclass(frozen=True)
class Masking(Layer):
    """Keras ``Masking``: a timestep whose features all equal ``mask_value`` is skipped by the recurrent layers.

    Skipped means Keras' semantics: the state is carried through the step unchanged and, with
    ``return_sequences``, the previous output is repeated there.
    """

    kind: ClassVar[str] = "masking"
    keras_classes: ClassVar[tuple[str, ...]] = ("Masking",)
    mask_value: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        checks.number(self.mask_value, f"{self.label} mask_value")
        checks.identifier(self.name)

    def keeps_mask(self) -> bool:
        return True  # the mask it makes

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 2:
            raise self.refuse(shape, "a sequence (time, features)", "put Masking after the per-frame Flatten")
        return shape

    def describe(self) -> str:
        return f"Masking({self.mask_value:g})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Masking", name=context.name, mask_value=self.mask_value)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("mask_value", 0.0), context.name)


@dataclass(frozen=True)
class Flatten(Layer):
    """Flatten each frame into features (Keras ``TimeDistributed(Flatten())``), a grid into a vector, or a sequence
    into a vector (Keras ``Flatten()``); with ``whole=True``, frames into one vector, time included (Keras' ``Flatten()``
    of frames, outside ``TimeDistributed``: ``(time, height, width, channels)`` -> ``(time * height * width *
    channels,)``, a fixed number of timesteps).

    ``data_format`` is Keras' Flatten's own: ``channels_first`` moves axis 1 of what the layer sees
    (a frame's channels, in a channels_first model) to the end before flattening. So Keras flattens a
    frame in (H, W, C) order, except for a ``channels_last`` Flatten in a ``channels_first`` model: (C, H, W)
    (see :meth:`keras_order`); a whole sequence of frames step after step, each frame so. torch always flattens
    (C, H, W); the converter permutes the next weighted layer's input rows once where the orders differ, so the
    torch model flattens in its natural order.
    """

    kind: ClassVar[str] = "flatten"
    keras_classes: ClassVar[tuple[str, ...]] = ("Flatten",)
    item_rank: ClassVar[int | None] = 3
    omitted_defaults: ClassVar[tuple[str, ...]] = ("data_format", "whole")
    data_format: DataFormat = "channels_last"
    whole: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        checks.choice(self.data_format, DATA_FORMATS, f"{self.label} data_format")
        checks.boolean(self.whole, f"{self.label} whole")
        checks.identifier(self.name)

    def keras_order(self, model_format: str) -> Literal["hwc", "chw"]:
        """The order Keras flattens a frame in, in a model whose frames are ``model_format``."""
        return "chw" if model_format == "channels_first" and self.data_format == "channels_last" else "hwc"

    def runs_per_frame(self, shape: Shape) -> bool:
        return not self.whole and super().runs_per_frame(shape)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        """Refuse ``data_format='channels_first'`` in a channels_last model (Keras would flatten (W, C, H)), and on a
        whole sequence of frames (Keras would move the time axis last)."""
        if model_format == "channels_last" and self.data_format == "channels_first":
            raise SpecError(
                f"{self.label}: data_format='channels_first' on channels_last frames moves the height axis last before "
                "flattening (W, C, H order), which lstm2d does not implement; use it in a channels_first model only"
            )
        if self.whole and self.data_format == "channels_first":
            raise SpecError(
                f"{self.label}: data_format='channels_first' on a whole sequence of frames moves the time axis last before "
                "flattening, which lstm2d does not implement; flatten each frame (whole=False), or with data_format "
                "channels_last"
            )

    def output_shape(self, shape: Shape) -> Shape:
        if self.whole and shape.rank != 4:
            raise self.refuse(shape, "frames (whole=True flattens a sequence of frames)", "other ranks are flattened whole")
        if shape.rank == 4 and not self.whole:
            return Shape((shape.time, shape.item.size))
        if shape.rank == 1:
            raise self.refuse(shape, "frames, a grid or a sequence", "it is already flat")
        if shape.time is None:
            raise self.refuse(
                shape, "a fixed number of timesteps", "flattening a whole sequence needs its length; to flatten each frame, "
                "wrap Flatten in TimeDistributed (or, in a spec, leave whole=False)",
            )  # fmt: skip
        return Shape((shape.size,))

    def describe(self) -> str:
        options = (["whole sample"] if self.whole else []) + (["channels_first"] if self.data_format != "channels_last" else [])
        return f"Flatten({', '.join(options)})" if options else "Flatten"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Flatten", name=context.name, data_format=self.data_format)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        """Outside TimeDistributed, Keras' Flatten of frames flattens them whole; inside, each frame."""
        whole = not context.wrapped and context.shape is not None and context.shape.rank == 4
        layer = cls(data_format_of(config), whole, name=context.name)
        layer.check_data_format(context.data_format)
        return layer


@dataclass(frozen=True)
class Reshape(Layer):
    """Keras ``Reshape(target_shape)``: the sample's values in Keras' (channels-last, row-major) order, laid out
    as ``target_shape``; one entry may be -1 (whatever size is left). An open time axis stays open only as a
    leading -1 (e.g. frames ``(T, 10, 10)`` -> ``(-1, 100)``)."""

    kind: ClassVar[str] = "reshape"
    keras_classes: ClassVar[tuple[str, ...]] = ("Reshape",)
    target_shape: tuple[int, ...]
    name: str = ""

    def __post_init__(self) -> None:
        target = self.target_shape
        if isinstance(target, list):
            target = tuple(target)
            object.__setattr__(self, "target_shape", target)
        if (
            not isinstance(target, tuple)
            or not target
            or any(isinstance(d, bool) or not isinstance(d, int) or (d < 1 and d != -1) for d in target)
            or list(target).count(-1) > 1
        ):
            raise SpecError(f"{self.label} target_shape: expected positive sizes and at most one -1, got {self.target_shape!r}")
        checks.identifier(self.name)

    def flattens_steps(self, shape: Shape) -> bool:
        """Whether this reshape of ``shape`` is a flatten of each frame (the same steps, one axis each), or of a whole
        grid (no values move)."""
        out = self.output_shape(shape)
        return (shape.rank == 4 and out.rank == 2 and out.time == shape.time) or (shape.rank == 3 and out.rank == 1)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        """In a channels_first model, Keras reshapes frames in their (channels, height, width) layout; lstm2d follows
        it where the reshape flattens each frame (or a grid), and refuses the others."""
        if model_format == "channels_first" and inputs and inputs[0].rank >= 3 and not self.flattens_steps(inputs[0]):
            raise SpecError(
                f"{self.label}: in a channels_first model lstm2d reshapes frames only to flatten each one (target "
                f"(time, features)); got target_shape {self.target_shape}"
            )

    def output_shape(self, shape: Shape) -> Shape:
        known = math.prod(d for d in self.target_shape if d != -1)
        if shape.time is None:
            if self.target_shape[0] != -1 or known != shape.item.size:
                raise self.refuse(
                    shape, f"a fixed number of timesteps for target_shape {self.target_shape}",
                    f"keep an open time axis as a leading -1: ({-1}, {shape.item.size}) flattens each step",
                )  # fmt: skip
            return Shape((None, *self.target_shape[1:]))
        size = shape.size
        if -1 in self.target_shape:
            if size % known:
                raise self.refuse(shape, f"a size divisible by {known} for target_shape {self.target_shape}")
            return Shape(tuple(size // known if d == -1 else d for d in self.target_shape))
        if known != size:
            raise self.refuse(shape, f"{known} values for target_shape {self.target_shape}, not {size}")
        return Shape(self.target_shape)

    def describe(self) -> str:
        return f"Reshape({', '.join(map(str, self.target_shape))})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Reshape", name=context.name, target_shape=list(self.target_shape))

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(as_tuple(config.get("target_shape")), context.name)


@dataclass(frozen=True)
class RepeatVector(Layer):
    """Keras ``RepeatVector(n)``: a vector ``(features,)`` repeated ``n`` times, ``(n, features)`` (e.g. an encoder's last
    state given to a decoder at every step)."""

    kind: ClassVar[str] = "repeat_vector"
    keras_classes: ClassVar[tuple[str, ...]] = ("RepeatVector",)
    keeps_feature_order: ClassVar[bool] = True
    n: int
    name: str = ""

    def __post_init__(self) -> None:
        checks.positive(self.n, f"{self.label} n")
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 1:
            raise self.refuse(shape, "a vector (features,)", "the previous recurrent layer returns sequences")
        return Shape((self.n, shape.features))

    def describe(self) -> str:
        return f"RepeatVector({self.n})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("RepeatVector", name=context.name, n=self.n)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("n"), context.name)  # type: ignore[arg-type]  # the file's value, None if missing: refused, naming the layer


@dataclass(frozen=True)
class Permute(Layer):
    """Keras ``Permute(dims)``: the per-sample axes reordered, ``dims`` a permutation of 1..rank (Keras counts the batch
    axis as 0): output axis ``i`` is input axis ``dims[i - 1]`` (e.g. ``(2, 1)`` swaps time and features)."""

    kind: ClassVar[str] = "permute"
    keras_classes: ClassVar[tuple[str, ...]] = ("Permute",)
    dims: tuple[int, ...]
    name: str = ""

    def __post_init__(self) -> None:
        dims = tuple(self.dims) if isinstance(self.dims, list) else self.dims
        object.__setattr__(self, "dims", dims)
        if (
            not isinstance(dims, tuple)
            or any(isinstance(d, bool) or not isinstance(d, int) for d in dims)
            or sorted(dims) != list(range(1, len(dims) + 1))
        ):
            raise SpecError(f"{self.label} dims: expected a permutation of 1, 2, ..., rank (Keras' axes), got {self.dims!r}")
        checks.identifier(self.name)

    @property
    def moves_last_axis(self) -> bool:
        return self.dims[-1] != len(self.dims)

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != len(self.dims):
            raise self.refuse(shape, f"a rank-{len(self.dims)} tensor for dims {self.dims}")
        if shape.time is None and self.dims[0] != 1:
            raise self.refuse(shape, "a fixed number of timesteps", f"dims {self.dims} move the open time axis")
        return Shape(tuple(shape.dims[d - 1] for d in self.dims))

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        """A channels_first model counts the axes of frames in (channels, height, width) order; lstm2d permutes them only
        in channels_last models."""
        if model_format == "channels_first" and inputs and inputs[0].rank in (3, 4):
            raise SpecError(f"{self.label}: lstm2d permutes frames or grids in channels_last models only")

    def describe(self) -> str:
        return f"Permute({', '.join(map(str, self.dims))})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Permute", name=context.name, dims=list(self.dims))

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(as_tuple(config.get("dims")), context.name)


__all__ = [
    "DATA_FORMATS",
    "Activation",
    "DataFormat",
    "Dense",
    "Dropout",
    "Flatten",
    "Masking",
    "Permute",
    "RepeatVector",
    "Reshape",
]
