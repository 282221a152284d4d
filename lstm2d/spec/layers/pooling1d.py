"""Pooling over one axis: Keras ``MaxPooling1D`` / ``AveragePooling1D`` and ``GlobalAveragePooling1D`` /
``GlobalMaxPooling1D``, over the time axis of a sequence or over every step's 1D signal (see ``conv1d``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, as_tuple, keras_config
from lstm2d.spec.layers.conv import check_pool_options
from lstm2d.spec.layers.conv1d import SignalLayer, expect_channels_last, fitted_signal, signal_dims
from lstm2d.spec.shapes import Padding, Shape, output_size

POOL1D_CLASSES = {"max": "MaxPooling1D", "avg": "AveragePooling1D"}
GLOBAL_POOL1D_CLASSES = {"avg": "GlobalAveragePooling1D", "max": "GlobalMaxPooling1D"}


@dataclass(frozen=True)
class Pool1D(SignalLayer):
    """Max or average pooling over one axis (Keras ``MaxPooling1D`` / ``AveragePooling1D``).

    ``strides=None`` means "same as ``pool_size``", as in Keras (stored as the pool size). With ``padding="same"``,
    TensorFlow's semantics, as for 2D: max pooling ignores the padded cells, average pooling averages over the valid
    cells only.
    """

    kind: ClassVar[str] = "pool1d"
    keras_classes: ClassVar[tuple[str, ...]] = tuple(POOL1D_CLASSES.values())
    keeps_feature_order: ClassVar[bool] = True
    mode: Literal["max", "avg"]
    pool_size: tuple[int] = (2,)
    strides: tuple[int] | None = None
    padding: Padding = "valid"
    name: str = ""

    def __post_init__(self) -> None:
        check_pool_options(self, 1)

    @property
    def window_strides(self) -> tuple[int]:
        """How far the window moves: ``strides``, which ``None`` sets to ``pool_size``."""
        return self.strides or self.pool_size

    def output_shape(self, shape: Shape) -> Shape:
        _, length, channels = signal_dims(self, shape)
        size = None if length is None else output_size(length, *self.pool_size, *self.window_strides, self.padding)
        return fitted_signal(self, shape, size, channels)

    def describe(self) -> str:
        return f"{self.mode.capitalize()}Pool1D({self.pool_size[0]}{', same' if self.padding == 'same' else ''})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            POOL1D_CLASSES[self.mode], name=context.name, pool_size=list(self.pool_size), strides=list(self.window_strides),
            padding=self.padding, data_format="channels_last",
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        expect_channels_last(config, context)
        strides = config.get("strides")
        mode: Literal["max", "avg"] = "max" if class_name == POOL1D_CLASSES["max"] else "avg"
        return cls(
            mode, as_tuple(config.get("pool_size", 2)), strides=None if strides is None else as_tuple(strides),
            padding=config.get("padding", "valid"), name=context.name,
        )  # fmt: skip


@dataclass(frozen=True)
class GlobalPool1D(SignalLayer):
    """Average or max over one axis (Keras ``GlobalAveragePooling1D`` / ``GlobalMaxPooling1D``): a sequence ``(T, F)``
    -> a vector ``(F,)`` (``keepdims``: ``(1, F)``), 1D signals ``(T, L, C)`` -> ``(T, C)`` (``(T, 1, C)``).

    With a mask (a Masking layer's, or a boolean input as ``mask=``) the average over time is over the real steps
    only, as Keras' (a sample with none gets 0 / 0); GlobalMaxPooling1D does not support masking in Keras: it drops a
    mask and takes the max over every step, and takes no ``mask=``.
    """

    kind: ClassVar[str] = "global_pool1d"
    keras_classes: ClassVar[tuple[str, ...]] = tuple(GLOBAL_POOL1D_CLASSES.values())
    keeps_feature_order: ClassVar[bool] = True
    mode: Literal["avg", "max"] = "avg"
    keepdims: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        checks.choice(self.mode, ("avg", "max"), f"{self.label} mode")
        checks.boolean(self.keepdims, f"{self.label} keepdims")
        checks.identifier(self.name)

    def takes_mask(self, inputs: tuple[Shape, ...]) -> bool:
        """The average over the time axis of a sequence reads its mask."""
        return self.mode == "avg" and inputs[0].rank == 2

    def output_shape(self, shape: Shape) -> Shape:
        steps, _, channels = signal_dims(self, shape)
        return Shape((*steps, *((1,) if self.keepdims else ()), channels))

    def describe(self) -> str:
        return f"Global{self.mode.capitalize()}Pool1D{'(keepdims)' if self.keepdims else ''}"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            GLOBAL_POOL1D_CLASSES[self.mode], name=context.name, data_format="channels_last", keepdims=self.keepdims
        )

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        expect_channels_last(config, context)
        mode: Literal["avg", "max"] = "max" if class_name == GLOBAL_POOL1D_CLASSES["max"] else "avg"
        return cls(mode, config.get("keepdims", False), context.name)


__all__ = [
    "GlobalPool1D",
    "Pool1D",
]
