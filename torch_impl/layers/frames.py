"""Running a per-frame op over a sequence of frames by folding time into the batch (a view, no copy)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def over_frames(op: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``op`` on every frame: ``(B, T, C, H, W)`` -> ``(B*T, C, H, W)`` -> op -> ``(B, T, C', H', W')``.

    A 4D input (a grid ``(B, C, H, W)``) goes to ``op`` as it is. Folding and unfolding are views,
    so the whole batch of frames is one kernel call: frames stored batch-major fold as ``B*T``,
    frames stored time-major (see :func:`time_major_storage`) as ``T*B``, and the output keeps
    the input's storage order.
    """
    if x.dim() == 4:
        return op(x)
    if is_time_major(x):
        return op(x.transpose(0, 1).flatten(0, 1)).unflatten(0, (x.shape[1], x.shape[0])).transpose(0, 1)
    batch, time = x.shape[:2]
    return op(x.flatten(0, 1)).unflatten(0, (batch, time))


def time_major_storage(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(B, T, ...)`` copied into time-major memory ``(T, B, ...)``, returned as a ``(B, T, ...)`` view.

    The values and the shape are ``x``'s; only the memory order changes. torch's fused recurrent
    kernels read ``(T, B, F)``: given a batch-first view of time-major memory they run without the
    transposing copies of their input and its gradient that batch-major memory costs.
    """
    return x.transpose(0, 1).contiguous().transpose(0, 1)


def is_time_major(x: torch.Tensor) -> bool:
    """Whether ``x`` ``(B, T, ...)`` is stored time-major (a view made by :func:`time_major_storage`)."""
    # Strides first: batch-major memory answers without reading the sizes, so tracing (torch.export) adds no
    # condition on the batch size.
    return x.dim() >= 2 and x.stride(0) < x.stride(1) and x.shape[0] > 1 and x.shape[1] > 1
