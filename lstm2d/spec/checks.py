"""Validation of layer arguments: each check raises :class:`SpecError` saying what was expected and what was found."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from lstm2d.spec.shapes import SpecError

ACTIVATIONS: tuple[str, ...] = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "hard_silu", "hard_swish",
    "mish", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2", "tanh", "softplus", "softsign", "exponential",
    "softmax", "log_softmax",
    "celu", "hard_shrink", "hard_tanh", "log_sigmoid", "soft_shrink", "sparse_plus", "sparse_sigmoid", "squareplus",
    "tanh_shrink",
)  # fmt: skip
"""Keras 3 activation names (``swish`` = ``silu``, ``hard_swish`` = ``hard_silu``), plus ``hard_sigmoid_keras2``:
Keras 2's ``clip(0.2 x + 0.5, 0, 1)``, which Keras 3 replaced by ``relu6(x + 3) / 6`` under the same name.
Legacy files say ``hard_sigmoid`` and mean the Keras 2 formula; the file readers translate."""
UNSUPPORTED_ACTIVATIONS = {
    "glu": "it halves the axis it gates, so a layer with it is not as wide as its Keras form says",
    "threshold": "it needs threshold and default_value arguments, which an activation given by name cannot pass",
    "sparsemax": (
        "Keras 3.15's sparsemax is not sparsemax: its threshold sums the cumulative sums over the support where it "
        "should take the last one, so its outputs do not sum to 1; a later fix would change what such a file computes"
    ),
}
"""Keras 3 activations lstm2d refuses, with the reason."""
ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
"""Keras' second names for two activations; a spec stores the first name, as Keras' saved configs do."""

_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ints(value: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    """Normalise ``3`` or ``(3, 3, ...)`` to ``n`` positive ints."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected an int or {n} ints, got {value!r}")
    if isinstance(value, int):
        out = (value,) * n
    elif isinstance(value, Sequence) and len(value) == n and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        out = tuple(int(v) for v in value)
    else:
        raise SpecError(f"{what}: expected an int or {n} ints, got {value!r}")
    if min(out) < 1:
        raise SpecError(f"{what}: expected positive sizes, got {out}")
    return out


def choice(value: Any, choices: Sequence[Any], what: str) -> None:
    if value not in choices:
        raise SpecError(f"{what}: expected one of {', '.join(map(repr, choices))}, got {value!r}")


def activation(value: Any, what: str) -> str:
    """A checked activation name, canonical (``swish`` -> ``silu``)."""
    if isinstance(value, str) and value in UNSUPPORTED_ACTIVATIONS:
        raise SpecError(f"{what}: {value!r} is not supported: {UNSUPPORTED_ACTIVATIONS[value]}")
    choice(value, ACTIVATIONS, what)
    return ACTIVATION_ALIASES.get(value, value)


def positive(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{what}: expected a positive int, got {value!r}")


def boolean(value: Any, what: str) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{what}: expected true or false, got {value!r}")


def rate(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise SpecError(f"{what}: expected a number in [0, 1), got {value!r}")


def number(value: Any, what: str, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (positive and value <= 0):
        raise SpecError(f"{what}: expected a {'positive ' if positive else ''}finite number, got {value!r}")


def identifier(name: Any, what: str = "layer name") -> None:
    """A name that can be a torch submodule name and a Keras layer name (empty: assigned later)."""
    if not isinstance(name, str) or (name and not _NAME_PATTERN.match(name)):
        raise SpecError(
            f"{what} {name!r}: expected an identifier (letters, digits, underscore; not starting with a digit), "
            "because it names a torch submodule and a Keras layer"
        )
