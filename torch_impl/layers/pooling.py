"""Per-frame max / average pooling with Keras padding semantics, channels-first."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Pool2D, same_padding


class FramePool2d(nn.Module):
    """Keras ``MaxPooling2D`` / ``AveragePooling2D`` on ``(frames, channels, height, width)``.

    ``same`` padding follows TensorFlow: the padded cells never win a max, and an
    average is taken over the valid cells only. Symmetric padding uses torch's own
    pooling padding (``-inf`` for max, ``count_include_pad=False`` for avg); asymmetric
    padding (odd cell at the bottom/right) pads explicitly, and for the average divides
    the window sums by a precomputed count of valid cells per output position.
    """

    def __init__(self, layer: Pool2D, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        height, width, _ = in_shape
        self.mode = layer.mode
        self.kernel_size = layer.pool_size
        self.stride = layer.strides
        if layer.padding == "same":
            pad_h = same_padding(height, self.kernel_size[0], self.stride[0])
            pad_w = same_padding(width, self.kernel_size[1], self.stride[1])
        else:
            pad_h = pad_w = (0, 0)
        symmetric = pad_h[0] == pad_h[1] and pad_w[0] == pad_w[1]
        self.padding = (pad_h[0], pad_w[0]) if symmetric else (0, 0)
        # F.pad order: (left, right, top, bottom)
        self.explicit_pad: tuple[int, int, int, int] | None = None if symmetric else (*pad_w, *pad_h)
        if self.mode == "avg" and self.explicit_pad is not None:
            valid = F.pad(torch.ones(1, 1, height, width), self.explicit_pad)
            counts = F.avg_pool2d(valid, self.kernel_size, self.stride, divisor_override=1)
            self.register_buffer("valid_counts", counts, persistent=False)  # (1, 1, H', W')
        else:
            self.valid_counts = None

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.mode == "max":
            if self.explicit_pad is not None:
                frames = F.pad(frames, self.explicit_pad, value=float("-inf"))
            return F.max_pool2d(frames, self.kernel_size, self.stride, self.padding)
        if self.explicit_pad is None:
            return F.avg_pool2d(frames, self.kernel_size, self.stride, self.padding, count_include_pad=False)
        sums = F.avg_pool2d(F.pad(frames, self.explicit_pad), self.kernel_size, self.stride, divisor_override=1)
        return sums / self.valid_counts

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, explicit_pad={self.explicit_pad}"
        )
