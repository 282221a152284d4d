"""Parameter-free layers that reshape or mask: Keras ``Flatten`` and ``Masking``."""

from __future__ import annotations

import torch
from torch import nn


class FlattenFrames(nn.Module):
    """Keras ``Flatten`` per frame: frames ``(B, T, C, H, W)`` -> ``(B, T, C*H*W)``; a grid ``(B, C, H, W)`` -> ``(B, C*H*W)``.

    torch's natural (C, H, W) order; the converter permutes the next layer's input weights to match
    Keras' (H, W, C), so nothing is permuted here.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(-3)


class MaskingLayer(nn.Module):
    """Keras ``Masking``: ``x`` (B, T, F) -> (``x`` with masked steps zeroed, mask (B, T) bool, True = a real step)."""

    def __init__(self, mask_value: float) -> None:
        super().__init__()
        self.mask_value = mask_value

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = (x != self.mask_value).any(dim=-1)
        return torch.where(mask[..., None], x, torch.zeros_like(x)), mask

    def extra_repr(self) -> str:
        return f"mask_value={self.mask_value}"
