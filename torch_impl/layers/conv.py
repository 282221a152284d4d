"""Keras ``Conv2D`` (per frame on frames) with TensorFlow's ``same`` padding, channels-first."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Conv2D, Grid, same_padding
from torch_impl.layers.activations import make_activation
from torch_impl.layers.frames import SPATIAL_CHANNEL_DIM, over_frames


def tf_padding(
    sizes: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...], padding: str
) -> tuple[tuple[int, int], ...]:
    """Per-axis ``(before, after)`` padding of TensorFlow's rule (zeros for ``valid``)."""
    if padding != "same":
        return tuple((0, 0) for _ in sizes)
    return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True))


def split_padding(pads: tuple[tuple[int, int], ...]) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """Symmetric padding for the op itself, or zero op padding plus an explicit ``F.pad`` (last axis first)."""
    if all(before == after for before, after in pads):
        return tuple(before for before, _ in pads), None
    explicit = tuple(value for before, after in reversed(pads) for value in (before, after))
    return tuple(0 for _ in pads), explicit


class FrameConv2d(nn.Conv2d):
    """``nn.Conv2d`` plus Keras' activation and TensorFlow's ``same`` padding.

    Input frames ``(B, T, C, H, W)`` (every frame, in one call over ``B*T`` frames) or a grid
    ``(B, C, H, W)``; output likewise with ``filters`` channels. Parameters are exactly
    ``nn.Conv2d``'s: ``weight`` (filters, in, kh, kw), ``bias`` (filters,).

    TensorFlow pads ``same`` with the odd cell at the bottom/right (even kernels, strides > 1):
    symmetric padding goes into the convolution itself (no copy); only an asymmetric layer pays
    one explicit ``F.pad``. ``softmax_dim``: the axis a softmax activation reduces over, the Keras
    layout's last (see ``frames.keras_last_axis``).
    """

    def __init__(self, layer: Conv2D, in_grid: Grid, *, softmax_dim: int = SPATIAL_CHANNEL_DIM) -> None:
        pads = tf_padding((in_grid.height, in_grid.width), layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
        (pad_h, pad_w), explicit = split_padding(pads)
        super().__init__(
            in_grid.channels,
            layer.filters,
            layer.kernel_size,
            stride=layer.strides,
            padding=(pad_h, pad_w),
            dilation=layer.dilation_rate,
            bias=layer.use_bias,
        )
        self.explicit_pad = explicit  # F.pad order: (left, right, top, bottom)
        self.activation_name = layer.activation
        self.activation = make_activation(layer.activation, channel_dim=softmax_dim)

    def pad(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames`` ``(N, C, H, W)`` with this layer's zero padding applied, for kernels that take unpadded input."""
        assert isinstance(self.padding, tuple)  # __init__ gives numbers, never "same" or "valid"
        pad_h, pad_w = self.padding
        left_right_top_bottom = self.explicit_pad or (pad_w, pad_w, pad_h, pad_h)
        return F.pad(frames, left_right_top_bottom) if any(left_right_top_bottom) else frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return over_frames(self._frames, x)

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        if self.explicit_pad is not None:
            frames = F.pad(frames, self.explicit_pad)
        return self.activation(super().forward(frames))
