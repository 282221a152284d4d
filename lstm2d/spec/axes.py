"""Keras axis arguments (``axis=-1``, ``axis=[2, 3]``, ``shared_axes``, ``dims``): checked, and mapped to the spec's
per-sample shape.

A Keras layer counts the axes of the tensor it receives with the batch axis as 0 (so ``-1`` is the last axis and
``1`` the first per-sample axis). A spec layer keeps its axes as its Keras layer has them, in the Keras model's
layout. In a ``channels_first`` model Keras holds frames as (time, channels, height, width) and grids as (channels,
height, width) where the spec's shapes say (time, height, width, channels): :func:`sample_axes` maps Keras' axes to the
spec's, so ``axis=1`` of a channels_first grid is its channels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lstm2d.spec.base import DecodeContext
from lstm2d.spec.shapes import Shape, SpecError, describe_shape


def axis_tuple(value: Any, what: str, *, empty: bool = False) -> tuple[int, ...]:
    """``-1`` or ``[1, 2]`` (a JSON list) as a tuple of ints, none of them the batch axis 0, none twice; ``empty``
    allows ``()``."""
    axes = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(axes, Sequence)
        or isinstance(axes, str)
        or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes)
        or (not axes and not empty)
    ):
        raise SpecError(f"{what}: expected an axis or a list of axes (ints), got {value!r}")
    if 0 in axes:
        raise SpecError(f"{what}: axis 0 is the batch axis, got {value!r}")
    if len(set(axes)) < len(axes):
        raise SpecError(f"{what}: an axis is given twice in {value!r}")
    return tuple(axes)


def keras_axis_value(axes: tuple[int, ...]) -> int | list[int]:
    """The Keras config value of ``axes``: one int for one axis, else a list."""
    return axes[0] if len(axes) == 1 else list(axes)


def keras_positions(axes: tuple[int, ...], shape: Shape, what: str) -> tuple[int, ...]:
    """Keras ``axes`` of a tensor of per-sample ``shape`` as Keras' per-sample axes (from 0, in Keras' layout), sorted."""
    rank = shape.rank
    out = set()
    for axis in axes:
        position = axis - 1 if axis > 0 else rank + axis
        if not 0 <= position < rank:
            raise SpecError(
                f"{what}: axis {axis} is out of range for {describe_shape(shape)} (Keras counts the batch axis as 0, so the "
                f"per-sample axes are 1 to {rank}, or -{rank} to -1)"
            )
        out.add(position)
    if len(out) < len(axes):
        raise SpecError(f"{what}: axes {list(axes)} name one axis twice for {describe_shape(shape)}")
    return tuple(sorted(out))


def spec_axis(position: int, rank: int, data_format: str) -> int:
    """Keras' per-sample axis ``position`` (of a rank-``rank`` tensor) as the spec's: a channels_first model's frames and
    grids have their channels before the height and width in Keras, after them in the spec."""
    if data_format != "channels_first" or rank not in (3, 4) or position < rank - 3:
        return position
    return {rank - 3: rank - 1, rank - 2: rank - 3, rank - 1: rank - 2}[position]


def sample_axes(axes: tuple[int, ...], shape: Shape, data_format: str, what: str) -> tuple[int, ...]:
    """Keras ``axes`` of a tensor of per-sample ``shape`` (spec terms) as the spec's per-sample axes (from 0), sorted."""
    return tuple(sorted(spec_axis(p, shape.rank, data_format) for p in keras_positions(axes, shape, what)))


def negative_axes(axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """``axes`` of a per-sample rank-``rank`` tensor counted from the end, so they name the same axes of that tensor with
    more axes in front (a step of a sequence, read as the whole sequence: a file's ``TimeDistributed`` dropped)."""
    return tuple(a - 1 - rank if a > 0 else a for a in axes)


def axes_from_keras(config: Mapping[str, Any], context: DecodeContext, default: Any, *, empty: bool = False) -> Any:
    """The ``axis`` of a config (Keras' ``default`` if missing). Inside a ``TimeDistributed`` (which the reader drops
    for a layer that computes the same on the whole sequence), counted from the end: then they name the same axes of a
    step and of the sequence. A value that is not an axis list is returned as it is: the layer refuses it, naming
    itself."""
    value = config.get("axis", default)
    value = () if value is None and empty else value
    if not context.wrapped:
        return value
    axes = axis_tuple(value, f"{context.name} axis", empty=empty)
    if context.shape is None and any(a > 0 for a in axes):
        context.problem(f"axis={value!r} inside TimeDistributed after a layer lstm2d could not read: its step is unknown")
        return value
    return negative_axes(axes, context.shape.rank) if context.shape is not None else axes


__all__ = [
    "axes_from_keras",
    "axis_tuple",
    "keras_axis_value",
    "keras_positions",
    "negative_axes",
    "sample_axes",
    "spec_axis",
]
