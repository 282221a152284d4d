"""Merges of several tensors: Keras ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum`` and
``Concatenate``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, keras_config
from lstm2d.spec.shapes import Shape, SpecError, dims_text


@dataclass(frozen=True)
class Merge(Layer):
    """An element-wise merge of two or more tensors of one rank; axes of size 1 broadcast, as in Keras."""

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    passes_mask: ClassVar[bool] = True  # inputs that share one mask: Keras ORs the masks, which gives that mask
    keeps_feature_order: ClassVar[bool] = True  # where every input has the same feature order
    name: str = ""

    def __post_init__(self) -> None:
        checks.identifier(self.name)

    def output_shapes(self, inputs: tuple[Shape, ...]) -> tuple[Shape, ...]:
        ranks = {shape.rank for shape in inputs}
        if len(ranks) > 1:
            raise SpecError(f"{self.label}: inputs of different ranks {self._shapes(inputs)}; lstm2d merges tensors of one rank")
        dims: list[int | None] = []
        for axis, sizes in enumerate(zip(*(shape.dims for shape in inputs), strict=True)):
            fixed = {size for size in sizes if size not in (None, 1)}
            if len(fixed) > 1 or (None in sizes and fixed):
                raise SpecError(f"{self.label}: inputs {self._shapes(inputs)} differ on axis {axis} (sizes must match or be 1)")
            dims.append(None if None in sizes else (fixed.pop() if fixed else 1))
        return (Shape(tuple(dims)),)

    @staticmethod
    def _shapes(inputs: tuple[Shape, ...]) -> str:
        return ", ".join(dims_text(shape) for shape in inputs)

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(type(self).__name__, name=context.name)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(context.name)


@dataclass(frozen=True)
class Add(Merge):
    """Keras ``Add``: the sum of the inputs."""

    kind: ClassVar[str] = "add"
    keras_classes: ClassVar[tuple[str, ...]] = ("Add",)


@dataclass(frozen=True)
class Subtract(Merge):
    """Keras ``Subtract``: the first input minus the second (exactly two)."""

    kind: ClassVar[str] = "subtract"
    keras_classes: ClassVar[tuple[str, ...]] = ("Subtract",)
    max_inputs: ClassVar[int | None] = 2


@dataclass(frozen=True)
class Multiply(Merge):
    """Keras ``Multiply``: the element-wise product of the inputs."""

    kind: ClassVar[str] = "multiply"
    keras_classes: ClassVar[tuple[str, ...]] = ("Multiply",)


@dataclass(frozen=True)
class Average(Merge):
    """Keras ``Average``: the element-wise mean of the inputs."""

    kind: ClassVar[str] = "average"
    keras_classes: ClassVar[tuple[str, ...]] = ("Average",)


@dataclass(frozen=True)
class Maximum(Merge):
    """Keras ``Maximum``: the element-wise maximum of the inputs."""

    kind: ClassVar[str] = "maximum"
    keras_classes: ClassVar[tuple[str, ...]] = ("Maximum",)
    passes_mask: ClassVar[bool] = False  # Keras fills masked values from the other inputs first; not implemented


@dataclass(frozen=True)
class Minimum(Merge):
    """Keras ``Minimum``: the element-wise minimum of the inputs."""

    kind: ClassVar[str] = "minimum"
    keras_classes: ClassVar[tuple[str, ...]] = ("Minimum",)
    passes_mask: ClassVar[bool] = False  # Keras fills masked values from the other inputs first; not implemented


@dataclass(frozen=True)
class Concatenate(Layer):
    """Keras ``Concatenate(axis)``: the inputs joined along ``axis``, counted as Keras counts it (batch axis 0, so
    ``-1`` is the features or channels and ``1`` the time axis); every other axis must match."""

    kind: ClassVar[str] = "concatenate"
    keras_classes: ClassVar[tuple[str, ...]] = ("Concatenate",)
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    passes_mask: ClassVar[bool] = True
    axis: int = -1
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.axis, bool) or not isinstance(self.axis, int) or self.axis == 0:
            raise SpecError(f"{self.label} axis: expected a non-zero int (axis 0 is the batch), got {self.axis!r}")
        checks.identifier(self.name)

    def sample_axis(self, rank: int) -> int:
        """The axis of the per-sample shape (rank ``rank``) it joins along, from 0."""
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise SpecError(f"{self.label}: axis {self.axis} is out of range for inputs of rank {rank} (plus the batch axis)")
        return axis

    def output_shapes(self, inputs: tuple[Shape, ...]) -> tuple[Shape, ...]:
        ranks = {shape.rank for shape in inputs}
        shapes = ", ".join(dims_text(shape) for shape in inputs)
        if len(ranks) > 1:
            raise SpecError(f"{self.label}: inputs of different ranks {shapes}")
        rank = ranks.pop()
        axis = self.sample_axis(rank)
        for i in range(rank):
            if i != axis and len({shape.dims[i] for shape in inputs}) > 1:
                raise SpecError(f"{self.label}: inputs {shapes} differ on axis {i}, which is not the concatenation axis")
        sizes = [shape.dims[axis] for shape in inputs]
        joined = None if None in sizes else sum(size for size in sizes if size is not None)
        first = inputs[0].dims
        return (Shape((*first[:axis], joined, *first[axis + 1 :])),)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        """A channels_first model counts the axes of frames in (channels, height, width) order; lstm2d joins them only
        in channels_last models."""
        if model_format == "channels_first" and inputs and inputs[0].rank >= 3:
            raise SpecError(f"{self.label}: lstm2d concatenates frames or grids in channels_last models only")

    def mask_flows(self, inputs: tuple[Shape, ...]) -> bool:
        """Along the last axis, inputs that share a (time) mask keep it; joined along time, the masks would join too."""
        return self.sample_axis(inputs[0].rank) == inputs[0].rank - 1

    def describe(self) -> str:
        return f"Concatenate(axis={self.axis})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Concatenate", name=context.name, axis=self.axis)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("axis", -1), context.name)


__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Maximum",
    "Merge",
    "Minimum",
    "Multiply",
    "Subtract",
]
