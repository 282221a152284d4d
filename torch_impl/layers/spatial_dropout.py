"""Keras ``SpatialDropout2D`` (per frame on frames, or on a grid) and ``SpatialDropout3D`` (over frames), channels-first."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Layer, SpatialDropout2D, SpatialDropout3D
from torch_impl.kinds import TorchKind, always, register
from torch_impl.layers.frames import over_frames
from torch_impl.layout import NodePlan, spatial_rule


class SpatialDropout(nn.Module):
    """Identity in eval mode; in training, each channel zeroed with probability ``p`` and the rest scaled by
    ``1 / (1 - p)``: per grid and per frame (``volume=False``: frames ``(B, T, C, H, W)`` fold into ``B*T`` grids, as
    Keras' TimeDistributed draws a mask per frame), or once for all the frames of a sample (``volume=True``)."""

    def __init__(self, p: float, *, volume: bool) -> None:
        super().__init__()
        self.p = p
        self.volume = volume

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.volume:  # (B, T, C, H, W) as the (B, C, T, H, W) volumes dropout3d drops channels of
            return F.dropout3d(x.transpose(1, 2), self.p, training=True).transpose(1, 2)
        return over_frames(lambda grids: F.dropout2d(grids, self.p, training=True), x)

    def extra_repr(self) -> str:
        return f"p={self.p}, volume={self.volume}"


def _build(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, (SpatialDropout2D, SpatialDropout3D))
    return SpatialDropout(layer.rate, volume=isinstance(layer, SpatialDropout3D))


for _kind in ("spatial_dropout2d", "spatial_dropout3d"):
    register(_kind, TorchKind(_build, spatial_rule, wants_channels_first=always))
