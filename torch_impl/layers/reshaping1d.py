"""Keras ``ZeroPadding1D``, ``Cropping1D`` and ``UpSampling1D`` on axis -2 of Keras' layout: the time axis of a sequence
``(B, T, F)``, or every step's signal axis of 1D signals ``(B, T, L, C)`` (see ``conv1d``). No transposes needed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Cropping1D, Layer, UpSampling1D, ZeroPadding1D
from torch_impl.kinds import TorchKind, register
from torch_impl.layers.conv1d import per_channel_rule
from torch_impl.layout import NodePlan


class SignalZeroPad(nn.Module):
    """Keras ``ZeroPadding1D``: ``before`` and ``after`` zero steps around axis -2."""

    def __init__(self, before: int, after: int) -> None:
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, self.before, self.after))

    def extra_repr(self) -> str:
        return f"before={self.before}, after={self.after}"


class SignalCrop(nn.Module):
    """Keras ``Cropping1D``: ``before`` and ``after`` steps cut from axis -2 (a view)."""

    def __init__(self, before: int, after: int) -> None:
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(-2, self.before, x.shape[-2] - self.before - self.after)

    def extra_repr(self) -> str:
        return f"before={self.before}, after={self.after}"


class SignalUpsample(nn.Module):
    """Keras ``UpSampling1D``: every step of axis -2 repeated ``size`` times."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(self.size, dim=-2)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def _build_zero_padding(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, ZeroPadding1D)
    return SignalZeroPad(*layer.padding)


def _build_cropping(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Cropping1D)
    return SignalCrop(*layer.cropping)


def _build_up_sampling(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, UpSampling1D)
    return SignalUpsample(layer.size)


register("zero_padding1d", TorchKind(_build_zero_padding, per_channel_rule))
register("cropping1d", TorchKind(_build_cropping, per_channel_rule))
register("up_sampling1d", TorchKind(_build_up_sampling, per_channel_rule))
