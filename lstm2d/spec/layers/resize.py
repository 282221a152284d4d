"""Resizing without weights: Keras ``ZeroPadding2D`` / ``Cropping2D`` / ``UpSampling2D`` (on a grid, or on every
frame) and ``ZeroPadding3D`` / ``Cropping3D`` / ``UpSampling3D`` (over time, height and width of frames)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, as_tuple, keras_config
from lstm2d.spec.layers.conv import fitted_grid, fitted_volume, per_frame_shape, refuse_channels_first_volumes
from lstm2d.spec.shapes import Shape, SpecError

Margins = tuple[tuple[int, int], ...]
"""Cells added (padding) or removed (cropping) per axis, ``((before, after), ...)``: top and bottom, left and right,
after the time axis' front and back in 3D."""
INTERPOLATIONS = ("nearest", "bilinear")
"""The UpSampling2D interpolations lstm2d implements (Keras' other ones, bicubic and lanczos, it refuses: Keras computes
bicubic with a different kernel on each backend, and lanczos not at all on torch's)."""


def margins(value: Any, rank: int, what: str) -> Margins:
    """Keras' padding or cropping argument as ``rank`` pairs: an int (every side), ``rank`` ints (both sides of each
    axis) or ``rank`` pairs (JSON lists too)."""

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if count(value):
        return ((value, value),) * rank
    if isinstance(value, (list, tuple)) and len(value) == rank:
        pairs = [(v, v) if count(v) else tuple(v) if isinstance(v, (list, tuple)) else None for v in value]
        if all(p is not None and len(p) == 2 and all(count(c) for c in p) for p in pairs):
            return tuple((int(p[0]), int(p[1])) for p in pairs if p is not None)
    raise SpecError(
        f"{what}: expected a count of cells, {rank} counts (each axis' two sides) or {rank} pairs (before, after), "
        f"every one at least 0, got {value!r}"
    )


class MarginLayer(Layer):
    """What padding and cropping layers share: cells added (``grow`` 1) or removed (``grow`` -1) at each side of the
    last ``rank`` axes before the channels (height and width; time, height and width for 3D)."""

    rank: ClassVar[int]
    grow: ClassVar[int]
    argument: ClassVar[str]  # the Keras argument holding the margins

    @property
    def margins(self) -> Margins:
        margins: Margins = getattr(self, self.argument)  # the dataclass field named by `argument`
        return margins

    def __post_init__(self) -> None:
        object.__setattr__(self, self.argument, margins(self.margins, self.rank, f"{self.label} {self.argument}"))
        checks.identifier(self.name)

    def output_sizes(self, sizes: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(None if n is None else n + self.grow * sum(m) for n, m in zip(sizes, self.margins, strict=True))

    def describe(self) -> str:
        return f"{self.keras_classes[0]}({', '.join(f'{before}/{after}' for before, after in self.margins)})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        arguments = {self.argument: [list(m) for m in self.margins]}
        return keras_config(self.keras_classes[0], name=context.name, **arguments, data_format=context.data_format)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        layer = cls(config.get(cls.argument), context.name)  # type: ignore[call-arg]  # the dataclass fields of a kind; None if missing: refused, naming the layer
        layer.check_data_format(context.data_format)
        return layer


class Margins2D(MarginLayer):
    """Padding or cropping of a grid, or of every frame."""

    item_rank: ClassVar[int | None] = 3
    spatial: ClassVar[bool] = True
    rank: ClassVar[int] = 2

    def output_grid(self, grid: Shape) -> Shape:
        height, width = self.output_sizes((grid.height, grid.width))
        assert height is not None and width is not None  # a grid's sizes are fixed
        return fitted_grid(self, grid, (height, width, grid.channels))

    def output_shape(self, shape: Shape) -> Shape:
        return per_frame_shape(self, shape, self.output_grid)


class Margins3D(MarginLayer):
    """Padding or cropping of frames over time, height and width."""

    spatial: ClassVar[bool] = True
    rank: ClassVar[int] = 3

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 4:
            raise self.refuse(shape, "frames (time, height, width, channels)")
        return fitted_volume(self, shape, self.output_sizes(shape.dims[:3]), shape.channels)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_volumes(self, model_format)


@dataclass(frozen=True)
class ZeroPadding2D(Margins2D):
    """Keras ``ZeroPadding2D``: zeros around a grid or every frame, ``((top, bottom), (left, right))`` cells."""

    kind: ClassVar[str] = "zero_padding2d"
    keras_classes: ClassVar[tuple[str, ...]] = ("ZeroPadding2D",)
    grow: ClassVar[int] = 1
    argument: ClassVar[str] = "padding"
    padding: Margins = ((1, 1), (1, 1))
    name: str = ""


@dataclass(frozen=True)
class Cropping2D(Margins2D):
    """Keras ``Cropping2D``: ``((top, bottom), (left, right))`` cells cut from a grid or every frame."""

    kind: ClassVar[str] = "cropping2d"
    keras_classes: ClassVar[tuple[str, ...]] = ("Cropping2D",)
    grow: ClassVar[int] = -1
    argument: ClassVar[str] = "cropping"
    cropping: Margins = ((0, 0), (0, 0))
    name: str = ""


@dataclass(frozen=True)
class ZeroPadding3D(Margins3D):
    """Keras ``ZeroPadding3D`` over frames: zero frames before and after, zeros around each frame,
    ``((front, back), (top, bottom), (left, right))``."""

    kind: ClassVar[str] = "zero_padding3d"
    keras_classes: ClassVar[tuple[str, ...]] = ("ZeroPadding3D",)
    grow: ClassVar[int] = 1
    argument: ClassVar[str] = "padding"
    padding: Margins = ((1, 1), (1, 1), (1, 1))
    name: str = ""


@dataclass(frozen=True)
class Cropping3D(Margins3D):
    """Keras ``Cropping3D`` over frames: ``((front, back), (top, bottom), (left, right))`` frames and cells cut."""

    kind: ClassVar[str] = "cropping3d"
    keras_classes: ClassVar[tuple[str, ...]] = ("Cropping3D",)
    grow: ClassVar[int] = -1
    argument: ClassVar[str] = "cropping"
    cropping: Margins = ((1, 1), (1, 1), (1, 1))
    name: str = ""


@dataclass(frozen=True)
class UpSampling2D(Layer):
    """Keras ``UpSampling2D``: a grid or every frame ``size`` times larger, by repeating cells (``nearest``) or
    interpolating between them (``bilinear``: half-pixel centres, edges clamped, as TensorFlow's ``resize``, JAX's
    and torch's ``interpolate(align_corners=False)`` compute it)."""

    kind: ClassVar[str] = "up_sampling2d"
    keras_classes: ClassVar[tuple[str, ...]] = ("UpSampling2D",)
    item_rank: ClassVar[int | None] = 3
    spatial: ClassVar[bool] = True
    size: tuple[int, int] = (2, 2)
    interpolation: Literal["nearest", "bilinear"] = "nearest"
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", checks.ints(self.size, 2, f"{self.label} size"))
        checks.choice(self.interpolation, INTERPOLATIONS, f"{self.label} interpolation")
        checks.identifier(self.name)

    def output_grid(self, grid: Shape) -> Shape:
        return Shape((grid.height * self.size[0], grid.width * self.size[1], grid.channels))

    def output_shape(self, shape: Shape) -> Shape:
        return per_frame_shape(self, shape, self.output_grid)

    def describe(self) -> str:
        return f"UpSampling2D({self.size[0]}x{self.size[1]}, {self.interpolation})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "UpSampling2D", name=context.name, size=list(self.size), data_format=context.data_format,
            interpolation=self.interpolation,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        interpolation = str(config.get("interpolation", "nearest")).lower()
        return cls(as_tuple(config.get("size", 2)), interpolation, context.name)  # type: ignore[arg-type]  # refused by name if not one of INTERPOLATIONS


@dataclass(frozen=True)
class UpSampling3D(Layer):
    """Keras ``UpSampling3D`` over frames: every frame repeated ``size[0]`` times, and each frame's cells
    ``size[1]`` x ``size[2]`` times."""

    kind: ClassVar[str] = "up_sampling3d"
    keras_classes: ClassVar[tuple[str, ...]] = ("UpSampling3D",)
    spatial: ClassVar[bool] = True
    size: tuple[int, int, int] = (2, 2, 2)
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", checks.ints(self.size, 3, f"{self.label} size"))
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 4:
            raise self.refuse(shape, "frames (time, height, width, channels)")
        sizes = tuple(None if n is None else n * s for n, s in zip(shape.dims[:3], self.size, strict=True))
        return Shape((*sizes, shape.channels))

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_volumes(self, model_format)

    def describe(self) -> str:
        return f"UpSampling3D({'x'.join(map(str, self.size))})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("UpSampling3D", name=context.name, size=list(self.size), data_format=context.data_format)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        layer = cls(as_tuple(config.get("size", 2)), context.name)
        layer.check_data_format(context.data_format)
        return layer


__all__ = [
    "INTERPOLATIONS",
    "Cropping2D",
    "Cropping3D",
    "MarginLayer",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding2D",
    "ZeroPadding3D",
]
