"""Keras ``ZeroPadding2D`` / ``Cropping2D`` / ``UpSampling2D`` (per frame on frames, or on a grid) and
``ZeroPadding3D`` / ``Cropping3D`` / ``UpSampling3D`` (over the time, height and width of frames), channels-first.

Channels-first frames are ``(B, T, C, H, W)`` and grids ``(B, C, H, W)``: the height and width are dims -2 and -1
either way and the time of frames dim -4, so one module serves a grid, every frame and a volume, on its dims."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Cropping2D, Cropping3D, Layer, UpSampling2D, UpSampling3D, ZeroPadding2D, ZeroPadding3D
from torch_impl.kinds import TorchKind, always, register
from torch_impl.layers.frames import over_frames
from torch_impl.layout import NodePlan, spatial_rule

PLANE_DIMS = (-2, -1)
"""The torch dims of a grid's or a frame's (height, width)."""
VOLUME_DIMS = (-4, -2, -1)
"""The torch dims of frames' (time, height, width)."""


def repeat_cells(x: torch.Tensor, factors: dict[int, int]) -> torch.Tensor:
    """``x`` with every cell of each dim ``d`` (negative) repeated ``factors[d]`` times in place (``repeat_interleave``
    on every dim at once): new size-1 axes (views), expanded, then one copy."""
    index: list[slice | None] = []
    expanded: list[int] = []
    for dim, size in enumerate(x.shape):
        factor = factors.get(dim - x.dim(), 1)
        index.append(slice(None))
        expanded.append(size)
        if factor > 1:
            index.append(None)
            expanded.append(factor)
    out_shape = [size * factors.get(dim - x.dim(), 1) for dim, size in enumerate(x.shape)]
    return x[tuple(index)].expand(expanded).reshape(out_shape)


class ZeroPadding(nn.Module):
    """Keras ``ZeroPadding2D`` / ``ZeroPadding3D``: ``margins[i]`` = (before, after) zeros on dim ``dims[i]``."""

    def __init__(self, margins: tuple[tuple[int, int], ...], dims: tuple[int, ...]) -> None:
        super().__init__()
        by_dim = dict(zip(dims, margins, strict=True))
        self.pads = tuple(side for dim in range(-1, min(dims) - 1, -1) for side in by_dim.get(dim, (0, 0)))  # F.pad order
        self.per_frame = dims == PLANE_DIMS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_frame:
            return over_frames(lambda frames: F.pad(frames, self.pads), x)  # keeps time-major storage
        return F.pad(x, self.pads)

    def extra_repr(self) -> str:
        return f"pads={self.pads}"


class Cropping(nn.Module):
    """Keras ``Cropping2D`` / ``Cropping3D``: ``margins[i]`` = (before, after) cells cut from dim ``dims[i]`` (a view)."""

    def __init__(self, margins: tuple[tuple[int, int], ...], dims: tuple[int, ...]) -> None:
        super().__init__()
        self.margins = dict(zip(dims, margins, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = [slice(None)] * x.dim()
        for dim, (before, after) in self.margins.items():
            index[dim] = slice(before, x.shape[dim] - after)
        return x[tuple(index)]

    def extra_repr(self) -> str:
        return f"margins={self.margins}"


class UpSampling(nn.Module):
    """Keras ``UpSampling2D`` / ``UpSampling3D``: dim ``d`` ``factors[d]`` times larger, every cell repeated
    (``nearest``), or, for frames and grids, interpolated (``bilinear``: torch's ``align_corners=False``, the half-pixel
    centres and clamped edges of TensorFlow's and JAX's resize, which Keras calls)."""

    def __init__(self, factors: dict[int, int], interpolation: str = "nearest") -> None:
        super().__init__()
        self.factors = factors
        self.interpolation = interpolation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.interpolation == "nearest":
            return repeat_cells(x, self.factors)
        return over_frames(self._bilinear, x)

    def _bilinear(self, frames: torch.Tensor) -> torch.Tensor:
        size = [frames.shape[dim] * self.factors[dim] for dim in PLANE_DIMS]  # as Keras' torch backend asks
        return F.interpolate(frames, size=size, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"factors={self.factors}, interpolation={self.interpolation}"


def _build_padding(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, (ZeroPadding2D, ZeroPadding3D))
    return ZeroPadding(layer.margins, PLANE_DIMS if isinstance(layer, ZeroPadding2D) else VOLUME_DIMS)


def _build_cropping(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, (Cropping2D, Cropping3D))
    return Cropping(layer.margins, PLANE_DIMS if isinstance(layer, Cropping2D) else VOLUME_DIMS)


def _build_up_sampling(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    if isinstance(layer, UpSampling2D):
        return UpSampling(dict(zip(PLANE_DIMS, layer.size, strict=True)), layer.interpolation)
    assert isinstance(layer, UpSampling3D)
    return UpSampling(dict(zip(VOLUME_DIMS, layer.size, strict=True)))


for _kind in ("zero_padding2d", "zero_padding3d"):
    register(_kind, TorchKind(_build_padding, spatial_rule, wants_channels_first=always))
for _kind in ("cropping2d", "cropping3d"):
    register(_kind, TorchKind(_build_cropping, spatial_rule, wants_channels_first=always))
for _kind in ("up_sampling2d", "up_sampling3d"):
    register(_kind, TorchKind(_build_up_sampling, spatial_rule, wants_channels_first=always))
