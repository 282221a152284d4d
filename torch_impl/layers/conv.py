"""Per-frame Conv2D with Keras padding semantics, channels-first."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Conv2D, same_padding
from torch_impl.layers.activations import make_activation


class FrameConv2d(nn.Conv2d):
    """``nn.Conv2d`` plus Keras' activation and TensorFlow's ``same`` padding.

    Input ``(frames, in_channels, height, width)``, output ``(frames, filters, height', width')``.
    Parameters are exactly ``nn.Conv2d``'s (``weight`` (out, in, kh, kw), ``bias`` (out,)).

    TensorFlow pads ``same`` with the odd cell at the bottom/right (even kernels, strides > 1).
    Symmetric padding goes into the convolution itself (no copy); only an asymmetric
    layer pays one explicit ``F.pad``.
    """

    def __init__(self, layer: Conv2D, in_shape: tuple[int, int, int]) -> None:
        height, width, in_channels = in_shape
        if layer.padding == "same":
            pad_h = same_padding(height, layer.kernel_size[0], layer.strides[0])
            pad_w = same_padding(width, layer.kernel_size[1], layer.strides[1])
        else:
            pad_h = pad_w = (0, 0)
        symmetric = pad_h[0] == pad_h[1] and pad_w[0] == pad_w[1]
        super().__init__(
            in_channels,
            layer.filters,
            layer.kernel_size,
            stride=layer.strides,
            padding=(pad_h[0], pad_w[0]) if symmetric else 0,
        )
        # F.pad order: (left, right, top, bottom)
        self.explicit_pad: tuple[int, int, int, int] | None = None if symmetric else (*pad_w, *pad_h)
        self.activation = make_activation(layer.activation, channel_dim=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.explicit_pad is not None:
            frames = F.pad(frames, self.explicit_pad)
        return self.activation(super().forward(frames))
