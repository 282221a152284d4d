"""Resizing one axis: Keras ``ZeroPadding1D``, ``Cropping1D`` and ``UpSampling1D``, over the time axis of a sequence or
over every step's 1D signal (see ``conv1d``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, as_tuple, keras_config
from lstm2d.spec.layers.conv1d import SignalLayer, expect_channels_last, fitted_signal, signal_dims
from lstm2d.spec.shapes import Shape, SpecError


def cell_pair(value: Any, what: str) -> tuple[int, int]:
    """``n`` or ``(before, after)`` as two non-negative ints (Keras' ``standardize_tuple(..., allow_zero=True)``)."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in pair)
    ):
        raise SpecError(f"{what}: expected an int or (before, after), both >= 0, got {value!r}")
    return int(pair[0]), int(pair[1])


@dataclass(frozen=True)
class ZeroPadding1D(SignalLayer):
    """Keras ``ZeroPadding1D``: ``padding = (before, after)`` zero steps around the signal (an int pads both ends)."""

    kind: ClassVar[str] = "zero_padding1d"
    keras_classes: ClassVar[tuple[str, ...]] = ("ZeroPadding1D",)
    keeps_feature_order: ClassVar[bool] = True
    padding: tuple[int, int] = (1, 1)
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "padding", cell_pair(self.padding, f"{self.label} padding"))
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        _, length, channels = signal_dims(self, shape)
        return fitted_signal(self, shape, None if length is None else length + sum(self.padding), channels)

    def describe(self) -> str:
        return f"ZeroPadding1D({self.padding[0]}, {self.padding[1]})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("ZeroPadding1D", name=context.name, padding=list(self.padding), data_format="channels_last")

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        expect_channels_last(config, context)
        return cls(as_tuple(config.get("padding", 1)), context.name)


@dataclass(frozen=True)
class Cropping1D(SignalLayer):
    """Keras ``Cropping1D``: ``cropping = (before, after)`` steps cut from the ends of the signal (an int cuts both)."""

    kind: ClassVar[str] = "cropping1d"
    keras_classes: ClassVar[tuple[str, ...]] = ("Cropping1D",)
    keeps_feature_order: ClassVar[bool] = True
    cropping: tuple[int, int] = (1, 1)
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "cropping", cell_pair(self.cropping, f"{self.label} cropping"))
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        _, length, channels = signal_dims(self, shape)
        return fitted_signal(self, shape, None if length is None else length - sum(self.cropping), channels)

    def describe(self) -> str:
        return f"Cropping1D({self.cropping[0]}, {self.cropping[1]})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Cropping1D", name=context.name, cropping=list(self.cropping))

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(as_tuple(config.get("cropping", (1, 1))), context.name)


@dataclass(frozen=True)
class UpSampling1D(SignalLayer):
    """Keras ``UpSampling1D``: every step repeated ``size`` times."""

    kind: ClassVar[str] = "up_sampling1d"
    keras_classes: ClassVar[tuple[str, ...]] = ("UpSampling1D",)
    keeps_feature_order: ClassVar[bool] = True
    size: int = 2
    name: str = ""

    def __post_init__(self) -> None:
        checks.positive(self.size, f"{self.label} size")
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        _, length, channels = signal_dims(self, shape)
        return fitted_signal(self, shape, None if length is None else length * self.size, channels)

    def describe(self) -> str:
        return f"UpSampling1D({self.size})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("UpSampling1D", name=context.name, size=self.size)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("size", 2), context.name)


__all__ = [
    "Cropping1D",
    "UpSampling1D",
    "ZeroPadding1D",
]
