"""Per-sample tensor shapes, as Keras has them, and the arithmetic of windows over them.

A :class:`Shape` is the shape of one sample of a tensor in the Keras model, without the batch axis,
in Keras' channels-last order: frames ``(time, height, width, channels)``, a grid ``(height, width,
channels)``, a sequence ``(time, features)``, a vector ``(features,)``, and any other rank Keras
allows (a sequence of 1D signals ``(time, length, channels)``, frames without a channel axis
``(time, height, width)``). Like Keras, lstm2d decides what a tensor is by its rank and by the layer
that reads it: a Conv2D reads a rank-3 tensor as a grid, a TimeDistributed Flatten as a sequence of
2D items. Only the first axis may be open (``None``: any number of timesteps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Padding = Literal["valid", "same"]
PADDINGS: tuple[str, ...] = ("valid", "same")


class SpecError(ValueError):
    """A model description that cannot be built; the message names the part at fault."""


@dataclass(frozen=True)
class Shape:
    """One sample's dims in Keras order (channels last); ``dims[0]`` may be ``None`` (any length).

    The named views read the dims the way the layers of this project do: ``channels`` / ``features``
    is the last axis, ``time`` the first, ``height`` and ``width`` the two before the channels.
    """

    dims: tuple[int | None, ...]

    def __post_init__(self) -> None:
        dims = tuple(self.dims)
        object.__setattr__(self, "dims", dims)
        if not dims:
            raise SpecError("a per-sample shape needs at least one axis, got ()")
        for i, d in enumerate(dims):
            if d is None and i == 0:
                continue
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                where = "only the first axis (time) may be open" if d is None else "expected positive sizes"
                raise SpecError(f"shape {_dims_text(dims)}: {where}")

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def time(self) -> int | None:
        return self.dims[0]

    @property
    def channels(self) -> int:
        return self._fixed(-1)

    @property
    def features(self) -> int:
        return self._fixed(-1)

    @property
    def height(self) -> int:
        return self._fixed(-3)

    @property
    def width(self) -> int:
        return self._fixed(-2)

    @property
    def item(self) -> Shape:
        """One step of a sequence: the dims after the first (``Shape((H, W, C))`` of frames)."""
        if self.rank < 2:
            raise SpecError(f"{describe_shape(self)} has no steps to take one of")
        return Shape(self.dims[1:])

    @property
    def grid(self) -> Shape:
        """The grid a 2D layer works on: each frame of frames, or the grid itself."""
        return self.item if self.rank == 4 else self

    @property
    def size(self) -> int:
        """The number of values per sample (a fixed shape only)."""
        if None in self.dims:
            raise SpecError(f"{describe_shape(self)} has an open axis: its size is not fixed")
        return math.prod(d for d in self.dims if d is not None)

    def with_time(self, time: int | None) -> Shape:
        return Shape((time, *self.dims[1:]))

    def _fixed(self, axis: int) -> int:
        if self.rank < -axis:
            raise SpecError(f"{describe_shape(self)} has no axis {axis}")
        value = self.dims[axis]
        assert value is not None  # only axis 0 may be open, and it is never read through these views when open
        return value


def Frames(time: int | None, height: int, width: int, channels: int) -> Shape:
    """A sequence of grids: ``(time, height, width, channels)``."""
    return Shape((time, height, width, channels))


def Grid(height: int, width: int, channels: int) -> Shape:
    """One grid: ``(height, width, channels)``."""
    return Shape((height, width, channels))


def Steps(time: int | None, features: int) -> Shape:
    """A sequence of feature vectors: ``(time, features)``."""
    return Shape((time, features))


def Vector(features: int) -> Shape:
    """One feature vector: ``(features,)``."""
    return Shape((features,))


RANK_NAMES = {
    1: "a vector (features,)",
    2: "a sequence (time, features)",
    3: "a grid (height, width, channels) or a sequence of 2D items (time, length, channels)",
    4: "frames (time, height, width, channels)",
    5: "a rank-5 tensor",
}


def describe_shape(shape: Shape) -> str:
    """E.g. ``frames (time, height, width, channels) = (100, 8, 8, 32)``."""
    name = RANK_NAMES.get(shape.rank, f"a rank-{shape.rank} tensor")
    return f"{name} = {_dims_text(shape.dims)}"


def _dims_text(dims: Sequence[int | None]) -> str:
    return "(" + ", ".join("*" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def dims_text(shape: Shape) -> str:
    """``(100, 8, 8, 32)``; ``*`` for an open axis."""
    return _dims_text(shape.dims)


def fixed_dims(dims: Sequence[int | None]) -> tuple[int, ...]:
    """``dims`` as ints, every axis known; a ValueError where the time axis is left open (``None``)."""
    fixed = tuple(d for d in dims if d is not None)
    if len(fixed) < len(dims):
        raise ValueError("the spec leaves timesteps open: pass timesteps=")
    return fixed


# -- padding and output-size arithmetic (TensorFlow's rules, which Keras follows) ------------------------


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow ``same`` padding along one axis, as ``(before, after)``.

    total = max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
    ``before = total // 2`` and the odd cell, if any, goes ``after`` (bottom / right).
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def output_size(size: int, kernel: int, stride: int, padding: Padding, dilation: int = 1) -> int:
    """Output length along one axis of a convolution or pooling window."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1
