"""Convolutions over one axis: Keras ``Conv1D``, ``Conv1DTranspose`` and ``ConvLSTM1D``, and what every 1D layer shares.

A 1D layer reads a sequence ``(time, features)`` as one signal: time is its length, the features are its channels
(a Conv1D front end over a sensor series, before an LSTM). Given a sequence of 1D signals ``(time, length,
channels)``, it runs on every step's signal (Keras ``TimeDistributed(Conv1D)``), as a 2D layer runs on every frame.
The rank tells the two apart: a rank-2 tensor is one signal, a rank-3 tensor one signal per step (``item_rank`` 2).
Keras' 1D layers are read and written ``channels_last`` only: ``(batch, steps, channels)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, data_format_of, keras_config
from lstm2d.spec.layers.conv import check_conv_options, check_window_options, decode_window, describe_window
from lstm2d.spec.layers.recurrent import ConvLSTM
from lstm2d.spec.shapes import Padding, Shape, SpecError, output_size

SIGNALS = "a sequence (time, features) or a sequence of 1D signals (time, length, channels)"
SIGNAL_PADDINGS: tuple[str, ...] = ("valid", "same", "causal")
SignalPadding = Literal["valid", "same", "causal"]


def signal_dims(layer: Layer, shape: Shape) -> tuple[tuple[int | None, ...], int | None, int]:
    """``(steps, length, channels)`` of what a 1D layer reads: a sequence is one signal (no ``steps``; its ``length`` is
    the time axis, open where the time axis is), 1D signals ``(time, length, channels)`` are one per step."""
    if shape.rank not in (2, 3):
        raise layer.refuse(shape, SIGNALS, "flatten each frame first to run a 1D layer over time")
    return shape.dims[:-2], shape.dims[-2], shape.channels


def fitted_signal(layer: Layer, shape: Shape, length: int | None, channels: int) -> Shape:
    """The output of a 1D layer on ``shape``: its steps, a signal of ``length`` (``None``: open), refused where empty."""
    if length is not None and length < 1:
        raise SpecError(
            f"{layer.label} shrinks the signal below one step: input (length, channels) = {shape.dims[-2:]}, output "
            f"length {length}; use padding='same', a smaller kernel or stride, or a longer signal"
        )
    return Shape((*shape.dims[:-2], length, channels))


def refuse_channels_first_signals(layer: Layer, model_format: str, inputs: tuple[Shape, ...]) -> None:
    """1D signals ``(time, length, channels)`` are rank 3, which a channels_first model lays out as a grid (channels,
    height, width): refused there."""
    if model_format == "channels_first" and inputs and inputs[0].rank == 3:
        raise SpecError(
            f"{layer.label}: a channels_first model lays out a rank-3 tensor as a grid (channels, height, width), so "
            "Keras would not read it as 1D signals (time, length, channels); lstm2d runs 1D layers on 1D signals in "
            "channels_last models (on sequences (time, features) in either)"
        )


def expect_channels_last(config: Mapping[str, Any], context: DecodeContext) -> None:
    """A 1D layer's ``data_format`` must be ``channels_last`` (missing is Keras' default)."""
    found = data_format_of(config)
    if found != "channels_last":
        context.problem(
            f"data_format={found!r} is not supported (lstm2d reads 1D layers channels_last: (batch, steps, features))"
        )


class SignalLayer(Layer):
    """What Keras' 1D layers share: on a sequence, one signal; on 1D signals, one per step (``item_rank`` 2). None of
    them supports masking in Keras (but GlobalAveragePooling1D, which says so itself): a mask reaching one is dropped."""

    item_rank: ClassVar[int | None] = 2
    drops_mask: ClassVar[bool] = True

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_signals(self, model_format, inputs)


@dataclass(frozen=True)
class Conv1D(SignalLayer):
    """Keras ``Conv1D`` over the time axis of a sequence (its features the channels) or over every step's 1D signal.

    ``padding="causal"`` pads ``(kernel - 1) * dilation`` zeros before the signal only, so output ``t`` sees inputs up to
    ``t`` (WaveNet); ``same`` pads as TensorFlow (the odd cell after). ``groups`` splits the channels and the filters
    into as many groups, each convolved on its own. Keras kernel ``(k, in / groups, filters)``; torch ``nn.Conv1d``
    weight ``(filters, in / groups, k)``.
    """

    kind: ClassVar[str] = "conv1d"
    keras_classes: ClassVar[tuple[str, ...]] = ("Conv1D",)
    filters: int
    kernel_size: tuple[int]
    strides: tuple[int] = (1,)
    padding: SignalPadding = "valid"
    dilation_rate: tuple[int] = (1,)
    groups: int = 1
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        checks.positive(self.filters, f"{self.label} filters")
        check_window_options(self, 1, SIGNAL_PADDINGS)
        checks.positive(self.groups, f"{self.label} groups")
        if self.filters % self.groups:
            raise SpecError(f"{self.label}: filters {self.filters} are not divisible by groups {self.groups}")
        object.__setattr__(self, "activation", checks.activation(self.activation, f"{self.label} activation"))
        checks.boolean(self.use_bias, f"{self.label} use_bias")
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        _, length, channels = signal_dims(self, shape)
        if channels % self.groups:
            raise self.refuse(shape, f"channels divisible by groups {self.groups}")
        padding: Padding = "valid" if self.padding == "valid" else "same"  # causal: (kernel - 1) * dilation before, then valid
        size = None if length is None else output_size(length, *self.kernel_size, *self.strides, padding, *self.dilation_rate)
        return fitted_signal(self, shape, size, self.filters)

    def describe(self) -> str:
        options = ("causal",) * (self.padding == "causal") + (f"groups={self.groups}",) * (self.groups > 1)
        return describe_window(self).removesuffix(")") + "".join(f", {option}" for option in options) + ")"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "Conv1D", name=context.name, filters=self.filters, kernel_size=list(self.kernel_size),
            strides=list(self.strides), padding=self.padding, data_format="channels_last",
            dilation_rate=list(self.dilation_rate), groups=self.groups, activation=self.activation,
            use_bias=self.use_bias,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        expect_channels_last(config, context)
        return cls(
            config.get("filters"), **decode_window(config), groups=config.get("groups", 1),  # type: ignore[arg-type]  # the file's values, None if missing: the layer refuses them, naming itself
            activation=context.activation(config, "activation", "linear"), use_bias=config.get("use_bias", True),
            name=context.name,
        )  # fmt: skip


@dataclass(frozen=True)
class Conv1DTranspose(SignalLayer):
    """Keras ``Conv1DTranspose``, a learned upsampling (the adjoint of a Conv1D): a signal of length ``n`` becomes
    ``n * strides`` long (``same``) or ``n * strides + max(k - strides, 0)`` (``valid``; ``k`` the dilated kernel), the
    full transposed convolution cropped as TensorFlow crops it. Keras kernel ``(k, filters, in)``; torch
    ``nn.ConvTranspose1d`` weight ``(in, filters, k)``. Keras' ``output_padding`` is not implemented."""

    kind: ClassVar[str] = "conv1d_transpose"
    keras_classes: ClassVar[tuple[str, ...]] = ("Conv1DTranspose",)
    filters: int
    kernel_size: tuple[int]
    strides: tuple[int] = (1,)
    padding: Literal["valid", "same"] = "valid"
    dilation_rate: tuple[int] = (1,)
    activation: str = "linear"
    use_bias: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        check_conv_options(self, 1)

    @property
    def dilated_kernel(self) -> int:
        return (self.kernel_size[0] - 1) * self.dilation_rate[0] + 1

    def output_length(self, length: int) -> int:
        """Keras' output length (``compute_conv_transpose_output_length`` without ``output_padding``)."""
        stride = self.strides[0]
        return length * stride + (max(self.dilated_kernel - stride, 0) if self.padding == "valid" else 0)

    def output_shape(self, shape: Shape) -> Shape:
        _, length, _ = signal_dims(self, shape)
        return fitted_signal(self, shape, None if length is None else self.output_length(length), self.filters)

    def describe(self) -> str:
        return describe_window(self)

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "Conv1DTranspose", name=context.name, filters=self.filters, kernel_size=list(self.kernel_size),
            strides=list(self.strides), padding=self.padding, output_padding=None, data_format="channels_last",
            dilation_rate=list(self.dilation_rate), activation=self.activation, use_bias=self.use_bias,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        expect_channels_last(config, context)
        context.expect(config, output_padding=None)
        return cls(
            config.get("filters"), **decode_window(config),  # type: ignore[arg-type]  # the file's value, None if missing: the layer refuses it, naming itself
            activation=context.activation(config, "activation", "linear"), use_bias=config.get("use_bias", True),
            name=context.name,
        )  # fmt: skip


@dataclass(frozen=True)
class ConvLSTM1D(ConvLSTM):
    """Keras ``ConvLSTM1D``: the state stays a 1D signal. 1D signals ``(time, length, channels)`` in; the same with
    ``return_sequences``, else the last state ``(length, filters)``. The cell is ConvLSTM2D's, over one axis."""

    kind: ClassVar[str] = "conv_lstm1d"
    keras_classes: ClassVar[tuple[str, ...]] = ("ConvLSTM1D",)
    rank: ClassVar[int] = 1
    kernel_size: tuple[int]
    strides: tuple[int] = (1,)
    dilation_rate: tuple[int] = (1,)

    def output_step(self, step: Shape) -> Shape:
        size = output_size(step.dims[0], *self.kernel_size, *self.strides, self.padding, *self.dilation_rate)  # type: ignore[arg-type]  # a step's length is fixed: only the time axis may be open
        return fitted_signal(self, step, size, self.filters)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_signals(self, model_format, inputs)

    @classmethod
    def expect_data_format(cls, config: Mapping[str, Any], context: DecodeContext) -> None:
        expect_channels_last(config, context)


__all__ = [
    "Conv1D",
    "Conv1DTranspose",
    "ConvLSTM1D",
    "SignalLayer",
]
