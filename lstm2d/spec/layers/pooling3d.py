"""Pooling over time, height and width of frames: Keras ``MaxPooling3D`` / ``AveragePooling3D`` and
``GlobalAveragePooling3D`` / ``GlobalMaxPooling3D``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, as_tuple, keras_config
from lstm2d.spec.layers.conv import check_pool_options, fitted_volume, refuse_channels_first_volumes
from lstm2d.spec.shapes import Padding, Shape, SpecError, output_size

POOL3D_CLASSES = {"max": "MaxPooling3D", "avg": "AveragePooling3D"}
GLOBAL_POOL3D_CLASSES = {"avg": "GlobalAveragePooling3D", "max": "GlobalMaxPooling3D"}


@dataclass(frozen=True)
class Pool3D(Layer):
    """Max or average pooling over (time, height, width) of frames (Keras ``MaxPooling3D`` / ``AveragePooling3D``);
    ``pool_size=(1, 2, 2)`` pools every frame alone.

    ``strides=None`` means "same as ``pool_size``" (stored as the pool size). With ``padding="same"``, max pooling
    ignores the padded cells and average pooling averages over the valid cells only (TensorFlow's semantics). With any
    number of timesteps (time=None), the window must not span or skip frames (time pool and stride 1).
    """

    kind: ClassVar[str] = "pool3d"
    keras_classes: ClassVar[tuple[str, ...]] = tuple(POOL3D_CLASSES.values())
    spatial: ClassVar[bool] = True
    mode: Literal["max", "avg"]
    pool_size: tuple[int, int, int] = (2, 2, 2)
    strides: tuple[int, int, int] | None = None
    padding: Padding = "valid"
    name: str = ""

    def __post_init__(self) -> None:
        check_pool_options(self, 3)

    @property
    def window_strides(self) -> tuple[int, int, int]:
        """How far the window moves: ``strides``, which ``None`` sets to ``pool_size``."""
        return self.strides or self.pool_size

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 4:
            raise self.refuse(shape, "frames (time, height, width, channels)")
        if shape.time is None and (self.pool_size[0], self.window_strides[0]) != (1, 1):
            raise SpecError(
                f"{self.label}: with any number of timesteps (time=None), the pool must take each frame alone "
                f"(pool_size and strides (1, *, *)), got pool_size {self.pool_size}, strides {self.window_strides}; "
                "give the timesteps to pool over time"
            )
        sizes = [
            None if n is None else output_size(n, k, s, self.padding)
            for n, k, s in zip(shape.dims[:3], self.pool_size, self.window_strides, strict=True)
        ]
        return fitted_volume(self, shape, sizes, shape.channels)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_volumes(self, model_format)

    def describe(self) -> str:
        return f"{self.mode.capitalize()}Pool3D({'x'.join(map(str, self.pool_size))})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            POOL3D_CLASSES[self.mode], name=context.name, pool_size=list(self.pool_size),
            strides=list(self.window_strides), padding=self.padding, data_format=context.data_format,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        strides = config.get("strides")
        mode: Literal["max", "avg"] = "max" if class_name == POOL3D_CLASSES["max"] else "avg"
        layer = cls(
            mode, as_tuple(config.get("pool_size", 2)), strides=None if strides is None else as_tuple(strides),
            padding=config.get("padding", "valid"), name=context.name,
        )  # fmt: skip
        layer.check_data_format(context.data_format)
        return layer


@dataclass(frozen=True)
class GlobalPool3D(Layer):
    """Average or max over time, height and width of frames (Keras ``GlobalAveragePooling3D`` / ``GlobalMaxPooling3D``):
    frames ``(T, H, W, C)`` -> a vector ``(C,)``."""

    kind: ClassVar[str] = "global_pool3d"
    keras_classes: ClassVar[tuple[str, ...]] = tuple(GLOBAL_POOL3D_CLASSES.values())
    spatial: ClassVar[bool] = True
    mode: Literal["avg", "max"] = "avg"
    name: str = ""

    def __post_init__(self) -> None:
        checks.choice(self.mode, ("avg", "max"), f"{self.label} mode")
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 4:
            raise self.refuse(shape, "frames (time, height, width, channels)")
        return Shape((shape.channels,))

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_volumes(self, model_format)

    def describe(self) -> str:
        return f"Global{self.mode.capitalize()}Pool3D"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(GLOBAL_POOL3D_CLASSES[self.mode], name=context.name, data_format=context.data_format)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        context.expect(config, keepdims=False)
        layer = cls("max" if class_name == GLOBAL_POOL3D_CLASSES["max"] else "avg", context.name)
        layer.check_data_format(context.data_format)
        return layer


__all__ = [
    "GlobalPool3D",
    "Pool3D",
]
