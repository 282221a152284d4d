"""Channel dropout: Keras ``SpatialDropout2D`` (on a grid, or on every frame) and ``SpatialDropout3D`` (over frames)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, keras_config
from lstm2d.spec.layers.conv import per_frame_shape, refuse_channels_first_volumes
from lstm2d.spec.shapes import Shape


class SpatialDropout(Layer):
    """Identity at inference; in training, whole channels zeroed with probability ``rate`` and the others scaled by
    ``1 / (1 - rate)`` (Keras' noise shape ``(batch, 1, 1, channels)``, or ``(batch, 1, 1, 1, channels)`` in 3D)."""

    spatial: ClassVar[bool] = True
    rate: float

    def __post_init__(self) -> None:
        checks.rate(self.rate, f"{self.label} rate")
        checks.identifier(self.name)

    def describe(self) -> str:
        return f"{self.keras_classes[0]}({self.rate})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(self.keras_classes[0], name=context.name, rate=self.rate, data_format=context.data_format)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect_data_format(config)
        context.expect(config, noise_shape=None)
        layer = cls(config.get("rate", 0.5), context.name)  # type: ignore[call-arg]  # the dataclass fields of a kind
        layer.check_data_format(context.data_format)
        return layer


@dataclass(frozen=True)
class SpatialDropout2D(SpatialDropout):
    """Keras ``SpatialDropout2D``: on frames, a channel of each frame dropped independently (``TimeDistributed``)."""

    kind: ClassVar[str] = "spatial_dropout2d"
    keras_classes: ClassVar[tuple[str, ...]] = ("SpatialDropout2D",)
    item_rank: ClassVar[int | None] = 3
    rate: float = 0.5
    name: str = ""

    def output_shape(self, shape: Shape) -> Shape:
        return per_frame_shape(self, shape, lambda grid: grid)


@dataclass(frozen=True)
class SpatialDropout3D(SpatialDropout):
    """Keras ``SpatialDropout3D`` over frames: a channel dropped in every frame of a sample at once."""

    kind: ClassVar[str] = "spatial_dropout3d"
    keras_classes: ClassVar[tuple[str, ...]] = ("SpatialDropout3D",)
    rate: float = 0.5
    name: str = ""

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 4:
            raise self.refuse(shape, "frames (time, height, width, channels)")
        return shape

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        refuse_channels_first_volumes(self, model_format)


__all__ = [
    "SpatialDropout2D",
    "SpatialDropout3D",
]
