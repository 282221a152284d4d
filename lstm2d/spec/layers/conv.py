"""Convolutions: Keras ``Conv2D`` (on a grid, or on every frame) and ``Conv3D`` (over time, height and width)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, as_tuple, keras_config
from lstm2d.spec.shapes import PADDINGS, Padding, Shape, SpecError, output_size

NOT_2D_HINT = "2D layers go before the Flatten (or GlobalPool2D) that turns each frame into features"


def per_frame_shape(layer: Layer, shape: Shape, output_grid: Callable[[Shape], Shape]) -> Shape:
    """What a 2D layer makes of a grid (``output_grid`` of it) or of frames (``output_grid`` of every frame)."""
    if shape.rank not in (3, 4):
        raise layer.refuse(shape, "frames or a grid", NOT_2D_HINT)
    out = output_grid(shape.grid)
    return Shape((shape.time, *out.dims)) if shape.rank == 4 else out


def fitted_grid(layer: Layer, grid: Shape, out: tuple[int, int, int]) -> Shape:
    """The output grid ``out`` (height, width, channels) of a window layer, refused where it is empty."""
    if min(out[:2]) < 1:
        raise SpecError(
            f"{layer.label} shrinks the frame below 1x1: input (height, width, channels) = {grid.dims}, "
            f"output = {out}; use padding='same', a smaller kernel or stride, or a larger grid"
        )
    return Shape(out)


def fitted_volume(layer: Layer, frames: Shape, sizes: Sequence[int | None], channels: int) -> Shape:
    """The output frames ``(*sizes, channels)`` of a 3D layer (``sizes``: time, height, width; time ``None`` where it
    is open), refused where an axis is empty."""
    if min(s for s in sizes if s is not None) < 1:
        raise SpecError(
            f"{layer.label} shrinks the input below one cell: input (time, height, width) = "
            f"{frames.dims[:3]}, output = {tuple(sizes)}"
        )
    return Shape((*sizes, channels))


def conv_output_grid(layer: Conv2D | Any, grid: Shape, channels: int | None = None) -> Shape:
    """The grid a 2D convolution (its kernel, strides, padding and dilation) makes of ``grid`` (H, W, C), with
    ``channels`` output channels (default: the layer's filters)."""
    sizes = zip((grid.height, grid.width), layer.kernel_size, layer.strides, layer.dilation_rate, strict=True)
    height, width = (output_size(size, k, s, layer.padding, d) for size, k, s, d in sizes)
    return fitted_grid(layer, grid, (height, width, layer.filters if channels is None else channels))


def check_window_options(layer: Any, rank: int, paddings: tuple[str, ...] = PADDINGS, *, strided_dilation: bool = False) -> None:
    """Kernel, strides and dilation as ``rank`` positive ints each; strides and dilation not both over 1 (Keras refuses
    it for every convolution but the depthwise ones: ``strided_dilation``); a padding of ``paddings``."""
    object.__setattr__(layer, "kernel_size", checks.ints(layer.kernel_size, rank, f"{layer.label} kernel_size"))
    object.__setattr__(layer, "strides", checks.ints(layer.strides, rank, f"{layer.label} strides"))
    object.__setattr__(layer, "dilation_rate", checks.ints(layer.dilation_rate, rank, f"{layer.label} dilation_rate"))
    if not strided_dilation and max(layer.strides) > 1 and max(layer.dilation_rate) > 1:
        raise SpecError(f"{layer.label}: strides > 1 with dilation_rate > 1 is not allowed (Keras refuses it too)")
    checks.choice(layer.padding, paddings, f"{layer.label} padding")


def check_conv_options(layer: Any, rank: int) -> None:
    """A convolution's fields: ``filters`` positive, the window options of :func:`check_window_options` for ``rank``
    axes, a known activation, ``use_bias`` a bool, a valid name."""
    checks.positive(layer.filters, f"{layer.label} filters")
    check_window_options(layer, rank)
    object.__setattr__(layer, "activation", checks.activation(layer.activation, f"{layer.label} activation"))
    checks.boolean(layer.use_bias, f"{layer.label} use_bias")
    checks.identifier(layer.name)


def check_pool_options(layer: Any, rank: int) -> None:
    """A pooling layer's fields: mode max or avg, ``pool_size`` as ``rank`` positive ints, ``strides`` likewise (``None``:
    the pool size, as Keras), a padding of :data:`PADDINGS`, a valid name."""
    checks.choice(layer.mode, ("max", "avg"), f"{layer.label} mode")
    object.__setattr__(layer, "pool_size", checks.ints(layer.pool_size, rank, f"{layer.label} pool_size"))
    strides = layer.pool_size if layer.strides is None else checks.ints(layer.strides, rank, f"{layer.label} strides")
    object.__setattr__(layer, "strides", strides)
    checks.choice(layer.padding, PADDINGS, f"{layer.label} padding")
    checks.identifier(layer.name)


def refuse_channels_first_volumes(layer: Layer, model_format: str) -> None:
    """Refuse a 3D layer (over time, height and width of frames) in a channels_first model: Keras' 3D layers cannot
    read its frames as (time, height, width) volumes."""
    if model_format == "channels_first":
        keras_class = " / ".join(layer.keras_classes)
        raise SpecError(
            f"{layer.label}: a channels_first model's frames are (batch, time, channels, height, width), which Keras' "
            f"{keras_class} cannot read as (time, height, width) volumes: data_format='channels_first' would take the "
            f"time axis as the channels, 'channels_last' the width; {keras_class} needs a channels_last model"
        )


def describe_window(layer: Any) -> str:
    window = "x".join(map(str, layer.kernel_size))
    extra = "" if layer.activation in ("linear", "tanh") else f", {layer.activation}"
    return f"{type(layer).__name__}({layer.filters}, {window}{extra})"


def decode_window(config: Mapping[str, Any]) -> dict[str, Any]:
    """The window options of a Keras convolution config, as spec arguments."""
    return {
        "kernel_size": as_tuple(config.get("kernel_size")),
        "strides": as_tuple(config.get("strides", 1)),
        "padding": config.get("padding", "valid"),
        "dilation_rate": as_tuple(config.get("dilation_rate", 1)),
    }


@dataclass(frozen=True)
class Conv2D(Layer):
    """A 2D convolution: on frames, applied to every frame (Keras ``TimeDistributed(Conv2D)``); on a grid, to the grid.

    Keras kernel ``(kh, kw, in, filters)``; torch ``nn.Conv2d`` weight ``(filters, in, kh, kw)``.
    """

    kind: ClassVar[str] = "conv2d"
    keras_classes: ClassVar[tuple[str, ...]] = ("Conv2D",)
    item_rank: ClassVar[int | None] = 3
    spatial: ClassVar[bool] = True
    filters: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = "valid"
    dilation_rate: tuple[int, int] = (1, 1)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        check_conv_options(self, 2)

    def output_grid(self, grid: Shape) -> Shape:
        return conv_output_grid(self, grid)

    def output_shape(self, shape: Shape) -> Shape:
        return per_frame_shape(self, shape, self.output_grid)

    def describe(self) -> str:
        return describe_window(self)

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "Conv2D", name=context.name, filters=self.filters, kernel_size=list(self.kernel_size),
            strides=list(self.strides), padding=self.padding, data_format=context.data_format,
            dilation_rate=list(self.dilation_rate), activation=self.activation, use_bias=self.use_bias,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        context.expect(config, groups=1)
        return cls(
            config.get("filters"), **decode_window(config),  # type: ignore[arg-type]  # the file's value, None if missing: the layer refuses it, naming itself
            activation=context.activation(config, "activation", "linear"), use_bias=config.get("use_bias", True),
            name=context.name,
        )  # fmt: skip


@dataclass(frozen=True)
class Conv3D(Layer):
    """Keras ``Conv3D`` over (time, height, width) of frames, e.g. a next-frame head. Kernel ``(kt, kh, kw)``."""

    kind: ClassVar[str] = "conv3d"
    keras_classes: ClassVar[tuple[str, ...]] = ("Conv3D",)
    spatial: ClassVar[bool] = True
    filters: int
    kernel_size: tuple[int, int, int]
    strides: tuple[int, int, int] = (1, 1, 1)
    padding: Padding = "valid"
    dilation_rate: tuple[int, int, int] = (1, 1, 1)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        check_conv_options(self, 3)

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 4:
            raise self.refuse(shape, "frames (time, height, width, channels)")
        if shape.time is None and (self.strides[0] > 1 or (self.padding == "valid" and self.kernel_size[0] > 1)):
            raise SpecError(
                f"{self.label}: with any number of timesteps (time=None), the time axis needs stride 1 and, "
                "for a time kernel over 1, padding='same'"
            )
        sizes = [
            None if size is None else output_size(size, k, s, self.padding, d)
            for size, k, s, d in zip(shape.dims[:3], self.kernel_size, self.strides, self.dilation_rate, strict=True)
        ]
        return fitted_volume(self, shape, sizes, self.filters)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_volumes(self, model_format)

    def describe(self) -> str:
        return describe_window(self)

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "Conv3D", name=context.name, filters=self.filters, kernel_size=list(self.kernel_size),
            strides=list(self.strides), padding=self.padding, data_format=context.data_format,
            dilation_rate=list(self.dilation_rate), activation=self.activation, use_bias=self.use_bias,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        context.expect(config, groups=1)
        layer = cls(
            config.get("filters"), **decode_window(config),  # type: ignore[arg-type]  # the file's value, None if missing: the layer refuses it, naming itself
            activation=context.activation(config, "activation", "linear"), use_bias=config.get("use_bias", True),
            name=context.name,
        )  # fmt: skip
        layer.check_data_format(context.data_format)
        return layer


__all__ = [
    "Conv2D",
    "Conv3D",
]
