"""Activation layers with options: Keras ``ReLU``, ``LeakyReLU``, ``PReLU`` (a learned slope), ``ELU`` and ``Softmax``
(over any axes, with a mask). Keras' ``Activation(name)`` is :class:`lstm2d.spec.Activation`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.axes import axes_from_keras, axis_tuple, keras_axis_value, sample_axes
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, keras_config
from lstm2d.spec.shapes import Shape, SpecError


def _at_least_zero(value: Any, what: str) -> None:
    checks.number(value, what)
    if value < 0:
        raise SpecError(f"{what}: expected a number >= 0 (Keras refuses negative values), got {value!r}")


class ElementWise(Layer):
    """A function of each value alone: any shape, the mask and the feature order pass through."""

    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class ReLU(ElementWise):
    """Keras ``ReLU``: ``x`` above ``threshold`` (else ``negative_slope * (x - threshold)``), capped at ``max_value``.

    Keras' formula, exactly: ``where(x > threshold, x, 0)`` (``relu(x)`` when ``threshold`` is 0), clipped to
    ``[0, max_value]``, minus ``negative_slope * relu(threshold - x)``; with only a slope, ``leaky_relu``.
    """

    kind: ClassVar[str] = "relu"
    keras_classes: ClassVar[tuple[str, ...]] = ("ReLU",)
    max_value: float | None = None
    negative_slope: float = 0.0
    threshold: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.max_value is not None:
            _at_least_zero(self.max_value, f"{self.label} max_value")
        _at_least_zero(self.negative_slope, f"{self.label} negative_slope")
        _at_least_zero(self.threshold, f"{self.label} threshold")
        checks.identifier(self.name)

    def describe(self) -> str:
        options = [] if self.max_value is None else [f"max_value={self.max_value:g}"]
        options += [f"{n}={getattr(self, n):g}" for n in ("negative_slope", "threshold") if getattr(self, n)]
        return f"ReLU({', '.join(options)})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "ReLU", name=context.name, max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold
        )

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("max_value"), config.get("negative_slope", 0.0), config.get("threshold", 0.0), context.name)


@dataclass(frozen=True)
class LeakyReLU(ElementWise):
    """Keras ``LeakyReLU``: ``x`` for ``x >= 0``, else ``negative_slope * x``. The layer's default slope is 0.3 (Keras 3
    and 2 alike), the ``leaky_relu`` activation's 0.2."""

    kind: ClassVar[str] = "leaky_relu"
    keras_classes: ClassVar[tuple[str, ...]] = ("LeakyReLU",)
    negative_slope: float = 0.3
    name: str = ""

    def __post_init__(self) -> None:
        _at_least_zero(self.negative_slope, f"{self.label} negative_slope")
        checks.identifier(self.name)

    def describe(self) -> str:
        return f"LeakyReLU({self.negative_slope:g})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("LeakyReLU", name=context.name, negative_slope=self.negative_slope)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        slope = config.get("negative_slope", config.get("alpha", 0.3))  # Keras 2 files say alpha
        return cls(slope, context.name)


@dataclass(frozen=True)
class ELU(ElementWise):
    """Keras ``ELU``: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    kind: ClassVar[str] = "elu"
    keras_classes: ClassVar[tuple[str, ...]] = ("ELU",)
    alpha: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        checks.number(self.alpha, f"{self.label} alpha")
        checks.identifier(self.name)

    def describe(self) -> str:
        return f"ELU({self.alpha:g})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("ELU", name=context.name, alpha=self.alpha)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("alpha", 1.0), context.name)


@dataclass(frozen=True)
class PReLU(Layer):
    """Keras ``PReLU``: ``x`` for ``x >= 0``, else ``alpha * x`` with a learned ``alpha`` per value of the sample
    (shape: the input's per sample), shared (size 1) along ``shared_axes`` (Keras' axes from 1, e.g. ``(1, 2)`` of
    frames in a per-step PReLU: one slope per channel). Keras' default initial ``alpha`` is zeros."""

    kind: ClassVar[str] = "prelu"
    keras_classes: ClassVar[tuple[str, ...]] = ("PReLU",)
    passes_mask: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True  # a permutation of the features permutes alpha's last axis alike
    shared_axes: tuple[int, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shared_axes", axis_tuple(self.shared_axes, f"{self.label} shared_axes", empty=True))
        if any(a < 0 for a in self.shared_axes):
            raise SpecError(
                f"{self.label} shared_axes: expected Keras' positive axes (1 is the first after the batch), got "
                f"{list(self.shared_axes)}"
            )
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        sample_axes(self.shared_axes, shape, "channels_last", f"{self.label} shared_axes")
        if shape.time is None and 1 not in self.shared_axes:
            raise self.refuse(shape, "a fixed number of timesteps", "alpha has one slope per step unless shared_axes has 1")
        return shape

    def describe(self) -> str:
        return f"PReLU(shared_axes={list(self.shared_axes)})" if self.shared_axes else "PReLU(a slope per value)"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("PReLU", name=context.name, shared_axes=list(self.shared_axes) or None)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        shared = config.get("shared_axes")
        return cls(() if shared is None else shared, context.name)


@dataclass(frozen=True)
class Softmax(Layer):
    """Keras ``Softmax``: ``exp(x) / sum(exp(x))`` over ``axis`` (one axis or several together).

    Given ``mask=`` (a boolean input of the steps), the softmax is over the unmasked steps only and masked steps are
    0, as in Keras; Keras broadcasts the mask ``(batch, time)`` against the last axes of the input, so lstm2d takes it
    for a vector of one score per step ``(time,)`` (attention weights), where it lines up with the steps.
    """

    kind: ClassVar[str] = "softmax"
    keras_classes: ClassVar[tuple[str, ...]] = ("Softmax",)
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True  # permuting its inputs only permutes its outputs
    axis: tuple[int, ...] = (-1,)
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", axis_tuple(self.axis, f"{self.label} axis"))
        checks.identifier(self.name)

    def takes_mask(self, inputs: tuple[Shape, ...]) -> bool:
        return inputs[0].rank == 1

    def output_shape(self, shape: Shape) -> Shape:
        sample_axes(self.axis, shape, "channels_last", f"{self.label} axis")
        return shape

    def describe(self) -> str:
        return f"Softmax(axis={keras_axis_value(self.axis)})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Softmax", name=context.name, axis=keras_axis_value(self.axis))

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(axes_from_keras(config, context, -1), context.name)


__all__ = [
    "ELU",
    "LeakyReLU",
    "PReLU",
    "ReLU",
    "Softmax",
]
