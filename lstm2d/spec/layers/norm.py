"""Normalisation: Keras ``BatchNormalization``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, keras_config
from lstm2d.spec.shapes import Shape


def batch_norm_axis(seen: Shape, data_format: str) -> int:
    """The axis a Keras BatchNormalization normalises, seeing per-sample ``seen`` (one step of it inside
    TimeDistributed): the channels of frames and grids (axis ``rank - 3``, batch counted, when channels_first), else
    the last axis (-1)."""
    if data_format == "channels_first" and seen.rank in (3, 4):
        return seen.rank + 1 - 3
    return -1


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Keras ``BatchNormalization`` over the channel (or feature) axis, Keras' defaults and update rule. That is the
    last axis, except on frames and grids in a channels_first model: there the Keras layer gets the channel axis.

    ``per_timestep=True`` is Keras' ``TimeDistributed(BatchNormalization())``: in training each
    timestep is normalised with its own batch statistics and the moving averages are updated once
    per timestep, in time order. ``per_timestep=False`` is ``BatchNormalization()`` on the whole
    sequence (statistics over batch and time together, one update). At inference both use the moving
    averages and compute the same function.
    """

    kind: ClassVar[str] = "batch_norm"
    keras_classes: ClassVar[tuple[str, ...]] = ("BatchNormalization",)
    keeps_feature_order: ClassVar[bool] = True
    epsilon: float = 1e-3
    momentum: float = 0.99
    center: bool = True
    scale: bool = True
    per_timestep: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        checks.number(self.epsilon, f"{self.label} epsilon", positive=True)
        checks.rate(self.momentum, f"{self.label} momentum")
        for attribute in ("center", "scale", "per_timestep"):
            checks.boolean(getattr(self, attribute), f"{self.label} {attribute}")
        checks.identifier(self.name)

    def runs_per_frame(self, shape: Shape) -> bool:
        return self.per_timestep

    def output_shape(self, shape: Shape) -> Shape:
        if self.per_timestep and shape.rank < 2:
            raise self.refuse(shape, "frames or a sequence (per_timestep=True needs a time axis)")
        return shape

    def features(self, shape: Shape) -> int:
        """Length of the normalised (channel or feature) axis."""
        return shape.channels

    def describe(self) -> str:
        return "BatchNorm(per timestep)" if self.per_timestep else "BatchNorm"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "BatchNormalization", name=context.name, axis=batch_norm_axis(context.shape, context.data_format),
            epsilon=self.epsilon, momentum=self.momentum, center=self.center, scale=self.scale,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        """The axis must be the one lstm2d normalises: the channels of frames and grids, else the features."""
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if context.shape is None:  # unknown after an unconvertible layer: judge only what holds for every shape
            if axis != -1 and context.data_format == "channels_last":
                context.problem(f"axis={config.get('axis')!r} is not supported (lstm2d normalises the last axis, -1)")
        else:
            rank = context.shape.rank + 1  # of the tensor the Keras layer sees, batch included
            expected = batch_norm_axis(context.shape, context.data_format)
            if isinstance(axis, bool) or axis not in (expected, expected + rank if expected < 0 else expected - rank):
                where = "the last axis" if expected == -1 else f"the channel axis of {context.data_format} frames"
                context.problem(f"axis={config.get('axis')!r} is not supported (lstm2d normalises {where}, {expected})")
        context.expect(config, renorm=False)
        return cls(
            config.get("epsilon", 1e-3), config.get("momentum", 0.99), config.get("center", True), config.get("scale", True),
            context.wrapped, context.name,
        )  # fmt: skip


__all__ = [
    "BatchNorm",
    "batch_norm_axis",
]
