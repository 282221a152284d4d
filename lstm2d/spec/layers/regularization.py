"""Regularisation layers that are identities at inference: Keras ``GaussianNoise``, ``GaussianDropout``,
``AlphaDropout`` and ``ActivityRegularization``.

In training the first three draw random numbers (as ``Dropout`` does): lstm2d draws from the same distributions, but
no two frameworks draw the same numbers, so training runs with them cannot match Keras step for step.
``ActivityRegularization`` adds a penalty on its input to Keras' training loss; lstm2d's training does not add it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, keras_config
from lstm2d.spec.shapes import Shape, SpecError


class Identity(Layer):
    """An identity at inference: element-wise, any shape, the mask and the feature order pass through."""

    passes_mask: ClassVar[bool] = True
    step_invariant: ClassVar[bool] = True
    keeps_feature_order: ClassVar[bool] = True

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class GaussianNoise(Identity):
    """Keras ``GaussianNoise(stddev)``: in training, ``x + N(0, stddev^2)`` noise; the identity at inference."""

    kind: ClassVar[str] = "gaussian_noise"
    keras_classes: ClassVar[tuple[str, ...]] = ("GaussianNoise",)
    stddev: float
    name: str = ""

    def __post_init__(self) -> None:
        checks.number(self.stddev, f"{self.label} stddev")
        if not 0 <= self.stddev <= 1:
            raise SpecError(f"{self.label} stddev: expected a number in [0, 1] (Keras' range), got {self.stddev!r}")
        checks.identifier(self.name)

    def describe(self) -> str:
        return f"GaussianNoise({self.stddev:g})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("GaussianNoise", name=context.name, stddev=self.stddev)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("stddev"), context.name)  # type: ignore[arg-type]  # None if missing: refused, naming the layer


@dataclass(frozen=True)
class GaussianDropout(Identity):
    """Keras ``GaussianDropout(rate)``: in training, ``x * N(1, rate / (1 - rate))`` noise; the identity at inference."""

    kind: ClassVar[str] = "gaussian_dropout"
    keras_classes: ClassVar[tuple[str, ...]] = ("GaussianDropout",)
    rate: float
    name: str = ""

    def __post_init__(self) -> None:
        checks.rate(self.rate, f"{self.label} rate")
        checks.identifier(self.name)

    def describe(self) -> str:
        return f"GaussianDropout({self.rate:g})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("GaussianDropout", name=context.name, rate=self.rate)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("rate"), context.name)  # type: ignore[arg-type]  # None if missing: refused, naming the layer


@dataclass(frozen=True)
class AlphaDropout(Identity):
    """Keras ``AlphaDropout(rate)`` (for SELU networks): in training, each value kept with probability ``1 - rate`` or
    set to SELU's negative saturation ``-1.7581``, then ``a * x + b`` restores the mean and variance; the identity at
    inference. Keras' ``noise_shape`` (one draw shared along some axes) is refused."""

    kind: ClassVar[str] = "alpha_dropout"
    keras_classes: ClassVar[tuple[str, ...]] = ("AlphaDropout",)
    rate: float
    name: str = ""

    def __post_init__(self) -> None:
        checks.rate(self.rate, f"{self.label} rate")
        checks.identifier(self.name)

    def describe(self) -> str:
        return f"AlphaDropout({self.rate:g})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("AlphaDropout", name=context.name, rate=self.rate)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        context.expect(config, noise_shape=None)
        return cls(config.get("rate"), context.name)  # type: ignore[arg-type]  # None if missing: refused, naming the layer


@dataclass(frozen=True)
class ActivityRegularization(Identity):
    """Keras ``ActivityRegularization(l1, l2)``: the identity; in Keras' training it adds ``(l1 * sum|x| + l2 *
    sum(x^2)) / batch`` to the loss, which lstm2d's training does not."""

    kind: ClassVar[str] = "activity_regularization"
    keras_classes: ClassVar[tuple[str, ...]] = ("ActivityRegularization",)
    l1: float = 0.0
    l2: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        for attribute in ("l1", "l2"):
            value = getattr(self, attribute)
            checks.number(value, f"{self.label} {attribute}")
            if value < 0:
                raise SpecError(f"{self.label} {attribute}: expected a number >= 0, got {value!r}")
        checks.identifier(self.name)

    def describe(self) -> str:
        return f"ActivityRegularization(l1={self.l1:g}, l2={self.l2:g})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("ActivityRegularization", name=context.name, l1=self.l1, l2=self.l2)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(config.get("l1", 0.0), config.get("l2", 0.0), context.name)


__all__ = [
    "ActivityRegularization",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
]
