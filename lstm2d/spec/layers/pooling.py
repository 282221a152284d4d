"""Pooling: Keras ``MaxPooling2D`` / ``AveragePooling2D`` and ``GlobalAveragePooling2D`` / ``GlobalMaxPooling2D``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, as_tuple, keras_config
from lstm2d.spec.layers.conv import check_pool_options, fitted_grid, per_frame_shape
from lstm2d.spec.shapes import Padding, Shape, output_size

POOL_CLASSES = {"max": "MaxPooling2D", "avg": "AveragePooling2D"}
GLOBAL_POOL_CLASSES = {"avg": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D"}


@dataclass(frozen=True)
class Pool2D(Layer):
    """Max or average pooling (Keras ``MaxPooling2D`` / ``AveragePooling2D``), per frame on frames.

    ``strides=None`` means "same as ``pool_size``", as in Keras (stored as the pool size). With
    ``padding="same"``, max pooling ignores the padded cells and average pooling averages over
    the valid cells only (TensorFlow's semantics, which Keras documents).
    """

    kind: ClassVar[str] = "pool2d"
    keras_classes: ClassVar[tuple[str, ...]] = tuple(POOL_CLASSES.values())
    item_rank: ClassVar[int | None] = 3
    spatial: ClassVar[bool] = True
    mode: Literal["max", "avg"]
    pool_size: tuple[int, int] = (2, 2)
    strides: tuple[int, int] | None = None
    padding: Padding = "valid"
    name: str = ""

    def __post_init__(self) -> None:
        check_pool_options(self, 2)

    @property
    def window_strides(self) -> tuple[int, int]:
        """How far the window moves: ``strides``, which ``None`` sets to ``pool_size``."""
        return self.strides or self.pool_size

    def output_grid(self, grid: Shape) -> Shape:
        (kh, kw), (sh, sw) = self.pool_size, self.window_strides
        out = (output_size(grid.height, kh, sh, self.padding), output_size(grid.width, kw, sw, self.padding), grid.channels)
        return fitted_grid(self, grid, out)

    def output_shape(self, shape: Shape) -> Shape:
        return per_frame_shape(self, shape, self.output_grid)

    def describe(self) -> str:
        return f"{self.mode.capitalize()}Pool({self.pool_size[0]}x{self.pool_size[1]})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            POOL_CLASSES[self.mode], name=context.name, pool_size=list(self.pool_size), strides=list(self.window_strides),
            padding=self.padding, data_format=context.data_format,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        strides = config.get("strides")
        mode: Literal["max", "avg"] = "max" if class_name == POOL_CLASSES["max"] else "avg"
        return cls(
            mode, as_tuple(config.get("pool_size", 2)), strides=None if strides is None else as_tuple(strides),
            padding=config.get("padding", "valid"), name=context.name,
        )  # fmt: skip


@dataclass(frozen=True)
class GlobalPool2D(Layer):
    """Average or max over height and width (Keras ``GlobalAveragePooling2D`` / ``GlobalMaxPooling2D``).

    Frames ``(T, H, W, C)`` -> steps ``(T, C)``; a grid ``(H, W, C)`` -> a vector ``(C,)``.
    """

    kind: ClassVar[str] = "global_pool2d"
    keras_classes: ClassVar[tuple[str, ...]] = tuple(GLOBAL_POOL_CLASSES.values())
    item_rank: ClassVar[int | None] = 3
    spatial: ClassVar[bool] = True
    mode: Literal["avg", "max"] = "avg"
    name: str = ""

    def __post_init__(self) -> None:
        checks.choice(self.mode, ("avg", "max"), f"{self.label} mode")
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank not in (3, 4):
            raise self.refuse(shape, "frames or a grid")
        return Shape((*shape.dims[:-3], shape.channels))

    def describe(self) -> str:
        return f"Global{self.mode.capitalize()}Pool"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(GLOBAL_POOL_CLASSES[self.mode], name=context.name, data_format=context.data_format)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        context.expect(config, keepdims=False)
        mode: Literal["avg", "max"] = "max" if class_name == GLOBAL_POOL_CLASSES["max"] else "avg"
        return cls(mode, context.name)


__all__ = [
    "GlobalPool2D",
    "Pool2D",
]
