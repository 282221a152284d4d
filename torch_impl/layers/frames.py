"""Running a per-frame op over a sequence of frames by folding time into the batch (a view, no copy)."""

from __future__ import annotations

from collections.abc import Callable

import torch

SPATIAL_CHANNEL_DIM = -3
"""The channel axis of frames ``(B, T, C, H, W)``, folded frames ``(B*T, C, H, W)`` and grids ``(B, C, H, W)``."""


def keras_last_axis(data_format: str) -> int:
    """The axis of torch's frames and grids that is the last one in the Keras model's layout, where Keras' softmax
    reduces: the channels (:data:`SPATIAL_CHANNEL_DIM`) for ``channels_last``, the width (-1) for ``channels_first``."""
    return SPATIAL_CHANNEL_DIM if data_format == "channels_last" else -1


def over_frames(op: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``op`` on every frame: ``(B, T, C, H, W)`` -> ``(B*T, C, H, W)`` -> op -> ``(B, T, C', H', W')``.

    A 4D input (a grid ``(B, C, H, W)``) goes to ``op`` as it is. Folding and unfolding are views of
    a contiguous (or channels_last) tensor, so the whole batch of frames is one kernel call.
    """
    if x.dim() == 4:
        return op(x)
    batch, time = x.shape[:2]
    return op(x.flatten(0, 1)).unflatten(0, (batch, time))
