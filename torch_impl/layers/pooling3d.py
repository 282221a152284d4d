"""Keras ``MaxPooling3D`` / ``AveragePooling3D`` and global 3D pooling over channels-first frames ``(B, T, C, H, W)``.

A 3D pooling window is a time window times a frame window, and with TensorFlow's ``same`` padding the valid cells of
a window are the product of its valid frames and its valid cells per frame: the max over a window is the max over its
frames of each frame's max, and the average over its valid cells the average over its valid frames of each frame's
average. So a 3D pool is a per-frame :class:`~torch_impl.layers.pooling.FramePool2d` (over ``B*T`` frames, with its
``same`` rules), then one along time (of the pooled frames seen as a ``(T, C*H*W)`` grid); the common ``(1, 2, 2)``
pool is the first alone.
"""

from __future__ import annotations

import torch
from torch import nn

from lstm2d.spec import GlobalPool3D, Grid, Layer, Pool2D, Pool3D, Shape
from torch_impl.kinds import TorchKind, always, register
from torch_impl.layers.pooling import FramePool2d
from torch_impl.layout import NodePlan, spatial_rule


class FramePool3d(nn.Module):
    """Keras ``MaxPooling3D`` / ``AveragePooling3D``: frames ``(B, T, C, H, W)`` -> ``(B, T', C, H', W')``.

    ``frame_pool`` pools every frame (None for a 1x1 window and stride), ``time_pool`` along time (None for a time
    window and stride of 1), each a :class:`FramePool2d` with TensorFlow's ``same`` semantics."""

    def __init__(self, layer: Pool3D, frames: Shape) -> None:
        super().__init__()
        (kt, kh, kw), (st, sh, sw) = layer.pool_size, layer.window_strides
        frame_pool = Pool2D(layer.mode, (kh, kw), (sh, sw), layer.padding)
        self.frame_pool = None if (kh, kw, sh, sw) == (1, 1, 1, 1) else FramePool2d(frame_pool, frames.item)
        self.time_pool = None
        if (kt, st) != (1, 1):
            assert frames.time is not None  # spec-checked: an open time axis is pooled per frame only
            steps = Grid(frames.time, frame_pool.output_grid(frames.item).size, 1)  # a pooled frame per row: (T, C*H'*W')
            self.time_pool = FramePool2d(Pool2D(layer.mode, (kt, 1), (st, 1), layer.padding), steps)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.frame_pool is not None:
            frames = self.frame_pool(frames)
        if self.time_pool is None:
            return frames
        batch, time, *frame = frames.shape
        rows = self.time_pool(frames.reshape(batch, 1, time, -1))  # (B, 1, T', C*H'*W')
        return rows.reshape(batch, -1, *frame)


class GlobalPool3d(nn.Module):
    """Keras ``GlobalAveragePooling3D`` / ``GlobalMaxPooling3D``: frames ``(B, T, C, H, W)`` -> ``(B, C)``."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        dims = (1, -2, -1)  # time, height, width
        return frames.mean(dim=dims) if self.mode == "avg" else frames.amax(dim=dims)

    def extra_repr(self) -> str:
        return f"mode={self.mode}"


def _build_pool(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Pool3D)
    return FramePool3d(layer, node.shapes.input)


def _build_global_pool(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, GlobalPool3D)
    return GlobalPool3d(layer.mode)


register("pool3d", TorchKind(_build_pool, spatial_rule, wants_channels_first=always))
register("global_pool3d", TorchKind(_build_global_pool, spatial_rule, wants_channels_first=always))
