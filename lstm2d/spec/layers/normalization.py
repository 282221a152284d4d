"""Per-sample normalisation and rescaling: Keras ``LayerNormalization``, ``GroupNormalization``,
``UnitNormalization``, ``RMSNormalization``, and the preprocessing layers ``Normalization`` (stored statistics) and ``Rescaling``.

Axes are Keras' (see :mod:`lstm2d.spec.axes`): counted with the batch axis as 0, in the Keras model's layout. A file's
``TimeDistributed`` around a layer whose axes are counted from the end computes what the layer computes on the whole
sequence, so the reader drops the wrapper (its axes counted from the end then, as they name the same axes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lstm2d.spec import checks
from lstm2d.spec.axes import axes_from_keras, axis_tuple, keras_axis_value, keras_positions, sample_axes, spec_axis
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, keras_config
from lstm2d.spec.shapes import Shape, SpecError

KERAS_EPSILON = 1e-7
"""``keras.backend.epsilon()``: the floor of ``Normalization``'s standard deviation."""
UNIT_NORM_EPSILON = 1e-12
"""``UnitNormalization``'s floor of the norm: the inverse norm is capped at ``1 / 1e-12``."""


@dataclass(frozen=True)
class LayerNorm(Layer):
    """Keras ``LayerNormalization``: each sample normalised over ``axis`` (mean and variance over those axes), then
    scaled by ``gamma`` and shifted by ``beta``, each spanning ``axis`` (shape: the sizes of those axes, in order).

    Keras' computation: ``inv = rsqrt(var + epsilon) * gamma``, ``out = x * inv + (beta - mean * inv)``.
    ``rms_scaling=True`` (deprecated in Keras 3, kept for its files) is ``x * rsqrt(var + epsilon) * gamma``: the
    input scaled by its variance, not centred, no beta.
    """

    kind: ClassVar[str] = "layer_norm"
    keras_classes: ClassVar[tuple[str, ...]] = ("LayerNormalization",)
    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True  # a permutation of the features permutes gamma and beta alike
    axis: tuple[int, ...] = (-1,)
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    rms_scaling: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", axis_tuple(self.axis, f"{self.label} axis"))
        checks.number(self.epsilon, f"{self.label} epsilon", positive=True)
        for attribute in ("center", "scale", "rms_scaling"):
            checks.boolean(getattr(self, attribute), f"{self.label} {attribute}")
        checks.identifier(self.name)

    @property
    def has_gamma(self) -> bool:
        return self.scale or self.rms_scaling

    @property
    def has_beta(self) -> bool:
        return self.center and not self.rms_scaling

    def output_shape(self, shape: Shape) -> Shape:
        axes = sample_axes(self.axis, shape, "channels_last", f"{self.label} axis")
        if (self.has_gamma or self.has_beta) and any(shape.dims[a] is None for a in axes):
            raise self.refuse(shape, "a fixed size on every normalised axis", "gamma and beta span them")
        return shape

    def describe(self) -> str:
        options = [f"axis={keras_axis_value(self.axis)}"]
        options += [] if self.epsilon == 1e-3 else [f"epsilon={self.epsilon:g}"]
        options += ["rms_scaling"] if self.rms_scaling else [f"no {n}" for n in ("center", "scale") if not getattr(self, n)]
        return f"LayerNorm({', '.join(options)})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "LayerNormalization", name=context.name, axis=keras_axis_value(self.axis), epsilon=self.epsilon,
            center=self.center, scale=self.scale, rms_scaling=self.rms_scaling,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(
            axes_from_keras(config, context, -1), config.get("epsilon", 1e-3), config.get("center", True),
            config.get("scale", True), config.get("rms_scaling", False), context.name,
        )  # fmt: skip


@dataclass(frozen=True)
class GroupNorm(Layer):
    """Keras ``GroupNormalization``: the ``axis`` features split into ``groups`` runs of consecutive ones; each sample
    normalised per group over the group's features and every other axis but the batch (time too, on a sequence), then
    ``gamma`` and ``beta`` per feature. ``groups=-1`` is one group per feature (instance normalisation); Keras saves it
    as the number of features."""

    kind: ClassVar[str] = "group_norm"
    keras_classes: ClassVar[tuple[str, ...]] = ("GroupNormalization",)
    passes_mask: ClassVar[bool] = True
    groups: int = 32
    axis: int = -1
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        if self.groups != -1:
            checks.positive(self.groups, f"{self.label} groups")
        axis_tuple(self.axis, f"{self.label} axis")  # one int: Keras' GroupNormalization takes no list
        if not isinstance(self.axis, int):
            raise SpecError(f"{self.label} axis: expected one axis (an int), got {self.axis!r}")
        checks.number(self.epsilon, f"{self.label} epsilon", positive=True)
        for attribute in ("center", "scale"):
            checks.boolean(getattr(self, attribute), f"{self.label} {attribute}")
        checks.identifier(self.name)

    def features(self, shape: Shape, data_format: str) -> int:
        """The length of the grouped axis."""
        dims = shape.dims[sample_axes((self.axis,), shape, data_format, f"{self.label} axis")[0]]
        assert dims is not None  # the time axis is never the grouped one: checked in output_shape
        return dims

    def group_count(self, shape: Shape, data_format: str) -> int:
        return self.features(shape, data_format) if self.groups == -1 else self.groups

    def output_shape(self, shape: Shape) -> Shape:
        (axis,) = sample_axes((self.axis,), shape, "channels_last", f"{self.label} axis")
        if shape.dims[axis] is None:
            raise self.refuse(shape, "a fixed size on the grouped axis", "Keras groups a known number of features")
        return shape

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        if inputs:
            features, groups = self.features(inputs[0], model_format), self.group_count(inputs[0], model_format)
            if groups > features or features % groups:
                raise SpecError(f"{self.label}: {groups} groups do not split {features} features evenly")

    def describe(self) -> str:
        options = [f"{self.groups} groups" if self.groups != -1 else "a group per feature", f"axis={self.axis}"]
        options += [] if self.epsilon == 1e-3 else [f"epsilon={self.epsilon:g}"]
        options += [f"no {n}" for n in ("center", "scale") if not getattr(self, n)]
        return f"GroupNorm({', '.join(options)})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "GroupNormalization", name=context.name, groups=self.groups, axis=self.axis, epsilon=self.epsilon,
            center=self.center, scale=self.scale,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(
            config.get("groups", 32), config.get("axis", -1), config.get("epsilon", 1e-3), config.get("center", True),
            config.get("scale", True), context.name,
        )  # fmt: skip


@dataclass(frozen=True)
class UnitNorm(Layer):
    """Keras ``UnitNormalization``: each sample scaled to unit L2 norm over ``axis``: ``x * min(rsqrt(sum(x^2)), 1e12)``."""

    kind: ClassVar[str] = "unit_norm"
    keras_classes: ClassVar[tuple[str, ...]] = ("UnitNormalization",)
    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True
    axis: tuple[int, ...] = (-1,)
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", axis_tuple(self.axis, f"{self.label} axis"))
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        sample_axes(self.axis, shape, "channels_last", f"{self.label} axis")
        return shape

    def describe(self) -> str:
        return f"UnitNorm(axis={keras_axis_value(self.axis)})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("UnitNormalization", name=context.name, axis=keras_axis_value(self.axis))

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(axes_from_keras(config, context, -1), context.name)


@dataclass(frozen=True)
class RMSNorm(Layer):
    """Keras ``RMSNormalization``: each sample divided by its root mean square over ``axis``, then scaled by ``scale``
    (the sizes of those axes, in order): ``x * rsqrt(mean(x^2) + epsilon) * scale``.

    Keras multiplies by ``scale`` broadcasting it from the last axis, so only axes that end at the last one (in the Keras
    model's layout) scale the axes they normalise; lstm2d refuses others (Keras scales other axes with them, or fails).
    """

    kind: ClassVar[str] = "rms_norm"
    keras_classes: ClassVar[tuple[str, ...]] = ("RMSNormalization",)
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True  # a permutation of the features permutes scale alike
    axis: tuple[int, ...] = (-1,)
    epsilon: float = 1e-6
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", axis_tuple(self.axis, f"{self.label} axis"))
        checks.number(self.epsilon, f"{self.label} epsilon", positive=True)
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        keras_positions(self.axis, shape, f"{self.label} axis")  # in range, none twice
        scale_axes = [a - 1 if a > 0 else shape.rank + a for a in sorted(self.axis)]  # Keras sorts the axis numbers
        if scale_axes != list(range(shape.rank - len(scale_axes), shape.rank)):
            raise self.refuse(
                shape, f"axes that end at the last one, got axis={keras_axis_value(self.axis)}",
                "Keras multiplies by scale broadcast from the last axis, which scales other axes than the normalised ones",
            )  # fmt: skip
        if any(shape.dims[a] is None for a in sample_axes(self.axis, shape, "channels_last", f"{self.label} axis")):
            raise self.refuse(shape, "a fixed size on every normalised axis", "scale spans them")
        return shape

    def describe(self) -> str:
        options = [f"axis={keras_axis_value(self.axis)}"] + ([] if self.epsilon == 1e-6 else [f"epsilon={self.epsilon:g}"])
        return f"RMSNorm({', '.join(options)})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("RMSNormalization", name=context.name, axis=keras_axis_value(self.axis), epsilon=self.epsilon)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(axes_from_keras(config, context, -1), config.get("epsilon", 1e-6), context.name)


Statistic = float | tuple[Any, ...] | None
"""A ``Normalization`` mean or variance given in the config: a number, or nested tuples (a Keras list) of numbers."""


def _statistic(value: Any, what: str) -> Statistic:
    """``value`` as a number or nested tuples of finite numbers (one regular array), or None."""
    if value is None:
        return None

    def walk(item: Any) -> Any:
        if isinstance(item, (list, tuple)):
            return tuple(walk(v) for v in item)
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise SpecError(f"{what}: expected finite numbers (a number or nested lists of them), got {value!r}")
        return float(item)

    result = walk(value)
    try:
        np.asarray(result, dtype=np.float64)
    except ValueError:
        raise SpecError(f"{what}: nested lists of unequal lengths, got {value!r}") from None
    statistic: Statistic = result
    return statistic


def _listed(value: Statistic) -> Any:
    """A statistic as Keras writes it: a float or nested lists."""
    return [_listed(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Normalization(Layer):
    """Keras ``Normalization``: ``(x - mean) / max(sqrt(variance), 1e-7)`` with a mean and variance per index of the
    kept ``axis`` (all of them together for ``axis=()``, Keras' ``None``); ``invert=True`` undoes it:
    ``mean + x * max(sqrt(variance), 1e-7)``.

    ``mean`` and ``variance`` given (numbers, or nested lists aligned to the kept axes from the right, broadcast as
    Keras broadcasts them) are part of the description; left ``None``, they are the layer's weights (``mean``,
    ``variance`` and the ``count`` of samples ``adapt`` saw), as an adapted layer stores them in its file.
    """

    kind: ClassVar[str] = "normalization"
    keras_classes: ClassVar[tuple[str, ...]] = ("Normalization",)
    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True
    axis: tuple[int, ...] = (-1,)
    mean: Statistic = None
    variance: Statistic = None
    invert: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", axis_tuple(self.axis, f"{self.label} axis", empty=True))
        object.__setattr__(self, "mean", _statistic(self.mean, f"{self.label} mean"))
        object.__setattr__(self, "variance", _statistic(self.variance, f"{self.label} variance"))
        if (self.mean is None) != (self.variance is None):
            raise SpecError(f"{self.label}: give mean and variance together (or neither: adapted weights)")
        if self.mean is not None:
            mean, variance = np.asarray(self.mean), np.asarray(self.variance)
            if mean.shape != variance.shape or mean.ndim > len(self.axis):
                raise SpecError(
                    f"{self.label}: mean {mean.shape} and variance {variance.shape} must have one shape, of at most "
                    f"{len(self.axis)} axes (one per kept axis)"
                )
            if (variance < 0).any():
                raise SpecError(f"{self.label} variance: expected values >= 0, got {self.variance!r}")
        checks.boolean(self.invert, f"{self.label} invert")
        checks.identifier(self.name)

    @property
    def adapted(self) -> bool:
        """Whether the statistics are weights (an adapted layer) rather than given in the description."""
        return self.mean is None

    def statistics(self, kept: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The given mean and variance broadcast to the kept axes' sizes ``kept`` (Keras order), as Keras does: their
        axes aligned to the last kept axes."""
        arrays = []
        for value in (self.mean, self.variance):
            given = np.asarray(value, dtype=np.float32)
            array = given.reshape((1,) * (len(kept) - given.ndim) + given.shape)
            try:
                arrays.append(np.broadcast_to(array, kept).copy())
            except ValueError:
                raise SpecError(
                    f"{self.label}: mean and variance of shape {given.shape} do not fit the kept axes {kept}"
                ) from None
        return arrays[0], arrays[1]

    def output_shape(self, shape: Shape) -> Shape:
        for axis in sample_axes(self.axis, shape, "channels_last", f"{self.label} axis"):
            if shape.dims[axis] is None:
                raise self.refuse(shape, "a fixed size on every kept axis", "Keras keeps a statistic per index there")
        return shape

    def kept_sizes(self, shape: Shape, data_format: str) -> tuple[int, ...]:
        """The sizes of the kept axes of a tensor of per-sample ``shape``, in Keras' order of them."""
        positions = keras_positions(self.axis, shape, f"{self.label} axis")
        return tuple(int(shape.dims[spec_axis(p, shape.rank, data_format)] or 0) for p in positions)

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        if inputs and not self.adapted:
            self.statistics(self.kept_sizes(inputs[0], model_format))

    def describe(self) -> str:
        options = [f"axis={keras_axis_value(self.axis) if self.axis else None}"]
        options += ["adapted"] if self.adapted else ["given mean and variance"]
        options += ["invert"] if self.invert else []
        return f"Normalization({', '.join(options)})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "Normalization", name=context.name, axis=list(self.axis), mean=_listed(self.mean),
            variance=_listed(self.variance), invert=self.invert,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        axis = axes_from_keras(config, context, -1, empty=True)
        return cls(axis, config.get("mean"), config.get("variance"), config.get("invert", False), context.name)


@dataclass(frozen=True)
class Rescaling(Layer):
    """Keras ``Rescaling``: ``x * scale + offset`` (numbers; Keras' per-channel lists broadcast by its global
    ``image_data_format``, not the model's, and are refused)."""

    kind: ClassVar[str] = "rescaling"
    keras_classes: ClassVar[tuple[str, ...]] = ("Rescaling",)
    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True
    scale: float = 1.0
    offset: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        checks.number(self.scale, f"{self.label} scale")
        checks.number(self.offset, f"{self.label} offset")
        checks.identifier(self.name)

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def describe(self) -> str:
        return f"Rescaling(scale={self.scale:g}, offset={self.offset:g})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("Rescaling", name=context.name, scale=self.scale, offset=self.offset)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("scale"), config.get("offset", 0.0), context.name)  # type: ignore[arg-type]  # None if missing: refused


__all__ = [
    "KERAS_EPSILON",
    "UNIT_NORM_EPSILON",
    "GroupNorm",
    "LayerNorm",
    "Normalization",
    "RMSNorm",
    "Rescaling",
    "UnitNorm",
]
