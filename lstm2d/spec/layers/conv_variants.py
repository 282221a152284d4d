"""Convolution variants: Keras ``Conv2DTranspose`` (on a grid, or on every frame) and ``Conv3DTranspose`` (over time,
height and width of frames), learned upsampling; ``DepthwiseConv2D`` (a filter per channel) and ``SeparableConv2D``
(a depthwise convolution, then a 1x1 convolution across channels), the blocks of MobileNet and EfficientNet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, as_tuple, keras_config
from lstm2d.spec.layers.conv import (
    check_window_options,
    conv_output_grid,
    decode_window,
    describe_window,
    fitted_grid,
    fitted_volume,
    per_frame_shape,
    refuse_channels_first_volumes,
)
from lstm2d.spec.shapes import Padding, Shape, SpecError


def transpose_output_size(
    size: int, kernel: int, stride: int, padding: str, output_padding: int | None, dilation: int = 1
) -> int:
    """Keras' output length of a transposed convolution along one axis (``keras/src/backend/common/backend_utils.py``).

    With the dilated kernel ``k = (kernel - 1) * dilation + 1``: ``valid`` gives ``(size - 1) * stride + k`` plus
    ``output_padding`` (default ``max(k, stride) - k``); ``same`` gives ``size * stride``, or with an
    ``output_padding``, ``(size - 1) * stride + k % 2 + output_padding``.
    """
    dilated = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(dilated, stride) - dilated if output_padding is None else output_padding
        return (size - 1) * stride + dilated + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + dilated % 2 + output_padding


class ConvTranspose(Layer):
    """What Keras' ``Conv2DTranspose`` and ``Conv3DTranspose`` share. A transposed convolution (the gradient of a
    convolution with respect to its input) adds ``kernel * value`` of every input cell into an output window placed
    ``stride`` cells further per input cell: the full result is ``(size - 1) * stride + k`` long (``k`` the dilated
    kernel); Keras' output is :func:`transpose_output_size` long, the full result with ``max(full - out, 0) // 2``
    cells cut from the start and the rest from the end (TensorFlow's ``same`` rule), or zeros added at the end.

    Keras kernel ``(*window, filters, in)`` (its convolution's, read the other way); torch ``nn.ConvTranspose`` weight
    ``(in, filters, *window)``; bias ``(filters,)``.
    """

    rank: ClassVar[int]
    spatial: ClassVar[bool] = True
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: Padding
    output_padding: tuple[int, ...] | None
    dilation_rate: tuple[int, ...]
    activation: str
    use_bias: bool

    def __post_init__(self) -> None:
        checks.positive(self.filters, f"{self.label} filters")
        check_window_options(self, self.rank)
        if self.output_padding is not None:
            object.__setattr__(self, "output_padding", self._checked_output_padding())
        object.__setattr__(self, "activation", checks.activation(self.activation, f"{self.label} activation"))
        checks.boolean(self.use_bias, f"{self.label} use_bias")
        checks.identifier(self.name)

    def _checked_output_padding(self) -> tuple[int, ...]:
        """``output_padding`` as ``rank`` ints, each at least 0 and less than its stride (Keras' rule)."""
        value: Any = self.output_padding
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value,) * self.rank
        elif isinstance(value, list):  # from JSON
            value = tuple(value)
        if not (
            isinstance(value, tuple)
            and len(value) == self.rank
            and all(
                isinstance(p, int) and not isinstance(p, bool) and 0 <= p < s for p, s in zip(value, self.strides, strict=True)
            )
        ):
            raise SpecError(
                f"{self.label} output_padding: expected None or {self.rank} ints, each at least 0 and less than its "
                f"stride in {self.strides} (as Keras requires), got {self.output_padding!r}"
            )
        return value

    def output_sizes(self, sizes: tuple[int, ...]) -> tuple[int, ...]:
        """The output length along each windowed axis, given the input's."""
        paddings = self.output_padding or (None,) * self.rank
        options = zip(sizes, self.kernel_size, self.strides, paddings, self.dilation_rate, strict=True)
        return tuple(transpose_output_size(n, k, s, self.padding, p, d) for n, k, s, p, d in options)

    def describe(self) -> str:
        return describe_window(self)

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            self.keras_classes[0], name=context.name, filters=self.filters, kernel_size=list(self.kernel_size),
            strides=list(self.strides), padding=self.padding,
            output_padding=None if self.output_padding is None else list(self.output_padding),
            data_format=context.data_format, dilation_rate=list(self.dilation_rate), activation=self.activation,
            use_bias=self.use_bias,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        layer = cls(
            config.get("filters"), **decode_window(config), output_padding=as_tuple(config.get("output_padding")),  # type: ignore[call-arg]  # the dataclass fields of a kind
            activation=context.activation(config, "activation", "linear"), use_bias=config.get("use_bias", True),
            name=context.name,
        )  # fmt: skip
        layer.check_data_format(context.data_format)
        return layer


@dataclass(frozen=True)
class Conv2DTranspose(ConvTranspose):
    """Keras ``Conv2DTranspose``: on frames, applied to every frame (``TimeDistributed``); on a grid, to the grid."""

    kind: ClassVar[str] = "conv2d_transpose"
    keras_classes: ClassVar[tuple[str, ...]] = ("Conv2DTranspose",)
    item_rank: ClassVar[int | None] = 3
    rank: ClassVar[int] = 2
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = (1, 1)
    padding: Padding = "valid"
    output_padding: tuple[int, ...] | None = None
    dilation_rate: tuple[int, ...] = (1, 1)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def output_grid(self, grid: Shape) -> Shape:
        height, width = self.output_sizes((grid.height, grid.width))
        return fitted_grid(self, grid, (height, width, self.filters))

    def output_shape(self, shape: Shape) -> Shape:
        return per_frame_shape(self, shape, self.output_grid)


@dataclass(frozen=True)
class Conv3DTranspose(ConvTranspose):
    """Keras ``Conv3DTranspose`` over (time, height, width) of frames. With any number of timesteps, the time axis keeps
    its length (stride 1, and an output as long as the input)."""

    kind: ClassVar[str] = "conv3d_transpose"
    keras_classes: ClassVar[tuple[str, ...]] = ("Conv3DTranspose",)
    rank: ClassVar[int] = 3
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = (1, 1, 1)
    padding: Padding = "valid"
    output_padding: tuple[int, ...] | None = None
    dilation_rate: tuple[int, ...] = (1, 1, 1)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 4:
            raise self.refuse(shape, "frames (time, height, width, channels)")
        if shape.time is not None:
            return fitted_volume(self, shape, self.output_sizes(shape.dims[:3]), self.filters)  # type: ignore[arg-type]  # a fixed time axis: every size an int
        if self.strides[0] > 1 or self.output_sizes((1, 1, 1))[0] != 1:
            raise SpecError(
                f"{self.label}: with any number of timesteps (time=None), the time axis must keep its length: stride 1, "
                "and padding='same' (or a time kernel of 1) with output_padding None"
            )
        return fitted_volume(self, shape, (None, *self.output_sizes((1, shape.height, shape.width))[1:]), self.filters)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_volumes(self, model_format)


class DepthwiseConv(Layer):
    """What Keras' ``DepthwiseConv2D`` and ``SeparableConv2D`` share: ``depth_multiplier`` filters per input channel,
    each seeing its channel only (Keras kernel ``(kh, kw, in, depth_multiplier)``; output channel ``c *
    depth_multiplier + m`` is filter ``m`` of channel ``c``, as torch's grouped convolution orders them). Unlike the
    other convolutions, Keras takes strides and dilation over 1 together here."""

    item_rank: ClassVar[int | None] = 3
    spatial: ClassVar[bool] = True
    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    padding: Padding
    depth_multiplier: int
    dilation_rate: tuple[int, int]
    activation: str
    use_bias: bool

    def __post_init__(self) -> None:
        check_window_options(self, 2, strided_dilation=True)
        checks.positive(self.depth_multiplier, f"{self.label} depth_multiplier")
        object.__setattr__(self, "activation", checks.activation(self.activation, f"{self.label} activation"))
        checks.boolean(self.use_bias, f"{self.label} use_bias")
        checks.identifier(self.name)

    def output_channels(self, channels: int) -> int:
        """The channels out, given the channels in."""
        return channels * self.depth_multiplier

    def output_grid(self, grid: Shape) -> Shape:
        return conv_output_grid(self, grid, self.output_channels(grid.channels))

    def output_shape(self, shape: Shape) -> Shape:
        return per_frame_shape(self, shape, self.output_grid)

    def window_config(self, context: EncodeContext) -> dict[str, Any]:
        """The Keras arguments both kinds take."""
        return {
            "name": context.name, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "padding": self.padding, "depth_multiplier": self.depth_multiplier, "data_format": context.data_format,
            "dilation_rate": list(self.dilation_rate), "activation": self.activation, "use_bias": self.use_bias,
        }  # fmt: skip

    @staticmethod
    def decode_options(config: Mapping[str, Any], context: DecodeContext) -> dict[str, Any]:
        """The spec arguments of both kinds from a Keras config."""
        context.expect_data_format(config)
        return {
            **decode_window(config), "depth_multiplier": config.get("depth_multiplier", 1),
            "activation": context.activation(config, "activation", "linear"), "use_bias": config.get("use_bias", True),
            "name": context.name,
        }  # fmt: skip


@dataclass(frozen=True)
class DepthwiseConv2D(DepthwiseConv):
    """Keras ``DepthwiseConv2D``: ``depth_multiplier`` filters per channel, ``in * depth_multiplier`` channels out.

    Keras kernel ``(kh, kw, in, depth_multiplier)``; torch ``nn.Conv2d(groups=in)`` weight ``(in * depth_multiplier, 1,
    kh, kw)``; bias ``(in * depth_multiplier,)``.
    """

    kind: ClassVar[str] = "depthwise_conv2d"
    keras_classes: ClassVar[tuple[str, ...]] = ("DepthwiseConv2D",)
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = "valid"
    depth_multiplier: int = 1
    dilation_rate: tuple[int, int] = (1, 1)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def describe(self) -> str:
        window = "x".join(map(str, self.kernel_size))
        multiplier = "" if self.depth_multiplier == 1 else f", x{self.depth_multiplier}"
        extra = "" if self.activation == "linear" else f", {self.activation}"
        return f"DepthwiseConv2D({window}{multiplier}{extra})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("DepthwiseConv2D", **self.window_config(context))

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(**cls.decode_options(config, context))


@dataclass(frozen=True)
class SeparableConv2D(DepthwiseConv):
    """Keras ``SeparableConv2D``: a depthwise convolution (no bias, no activation), then a 1x1 convolution to ``filters``
    channels with the bias and the activation.

    Keras ``depthwise_kernel`` ``(kh, kw, in, depth_multiplier)``, ``pointwise_kernel`` ``(1, 1, in * depth_multiplier,
    filters)``, ``bias`` ``(filters,)``; torch ``depthwise.weight`` ``(in * depth_multiplier, 1, kh, kw)``,
    ``pointwise.weight`` ``(filters, in * depth_multiplier, 1, 1)``, ``pointwise.bias``.
    """

    kind: ClassVar[str] = "separable_conv2d"
    keras_classes: ClassVar[tuple[str, ...]] = ("SeparableConv2D",)
    filters: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = "valid"
    depth_multiplier: int = 1
    dilation_rate: tuple[int, int] = (1, 1)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        checks.positive(self.filters, f"{self.label} filters")
        super().__post_init__()

    def output_channels(self, channels: int) -> int:
        return self.filters

    def depthwise(self) -> DepthwiseConv2D:
        """Its first stage alone: the depthwise convolution, without bias or activation."""
        return DepthwiseConv2D(
            self.kernel_size, self.strides, self.padding, self.depth_multiplier, self.dilation_rate, use_bias=False
        )

    def describe(self) -> str:
        return describe_window(self)

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("SeparableConv2D", filters=self.filters, **self.window_config(context))

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("filters"), **cls.decode_options(config, context))  # type: ignore[arg-type]  # the file's value, None if missing: refused, naming the layer


__all__ = [
    "Conv2DTranspose",
    "Conv3DTranspose",
    "ConvTranspose",
    "DepthwiseConv",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "transpose_output_size",
]
