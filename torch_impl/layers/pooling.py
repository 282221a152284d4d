"""Keras max / average pooling (per frame on frames) with TensorFlow's ``same`` semantics, and global pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import GlobalPool2D, Layer, Pool2D, Shape
from torch_impl.kinds import TorchKind, always, register
from torch_impl.layers.conv import split_padding, tf_padding
from torch_impl.layers.frames import over_frames
from torch_impl.layout import NodePlan, spatial_rule


class FramePool2d(nn.Module):
    """Keras ``MaxPooling2D`` / ``AveragePooling2D`` on frames ``(B, T, C, H, W)`` or a grid ``(B, C, H, W)``.

    ``same`` padding follows TensorFlow: the padded cells never win a max, and an average is
    taken over the valid cells only. Symmetric padding uses torch's own pooling padding
    (``-inf`` for max, ``count_include_pad=False`` for avg); asymmetric padding (odd cell at the
    bottom/right) pads explicitly with zeros, and for the average rescales the mean over the whole
    window by a precomputed ``window size / valid cells`` per output position (plain ops every
    exporter writes: ONNX has no ``divisor_override``, and torch.onnx drops it silently).
    """

    valid_scale: torch.Tensor | None

    def __init__(self, layer: Pool2D, in_grid: Shape) -> None:
        super().__init__()
        self.mode = layer.mode
        self.kernel_size = layer.pool_size
        self.stride = layer.window_strides
        height, width = in_grid.height, in_grid.width
        pads = tf_padding((height, width), self.kernel_size, self.stride, (1, 1), layer.padding)
        self.padding, self.explicit_pad = split_padding(pads)  # explicit: F.pad order (left, right, top, bottom)
        if self.mode == "avg" and self.explicit_pad is not None:
            valid = F.pad(torch.ones(1, 1, height, width), self.explicit_pad)
            share = F.avg_pool2d(valid, self.kernel_size, self.stride)  # valid cells / window size
            self.register_buffer("valid_scale", 1 / share, persistent=False)  # (1, 1, H', W')
        else:
            self.valid_scale = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return over_frames(self._frames, x)

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        if self.mode == "max":
            if self.explicit_pad is not None:
                frames = F.pad(frames, self.explicit_pad, value=float("-inf"))
            return F.max_pool2d(frames, self.kernel_size, self.stride, self.padding)
        if self.explicit_pad is None:
            return F.avg_pool2d(frames, self.kernel_size, self.stride, self.padding, count_include_pad=False)
        window_means = F.avg_pool2d(F.pad(frames, self.explicit_pad), self.kernel_size, self.stride)  # zeros counted
        assert self.valid_scale is not None  # made in __init__ for average pooling with explicit padding
        return window_means * self.valid_scale

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, explicit_pad={self.explicit_pad}"
        )


class GlobalPool2d(nn.Module):
    """Keras ``GlobalAveragePooling2D`` / ``GlobalMaxPooling2D``: frames ``(B, T, C, H, W)`` -> ``(B, T, C)``,
    a grid ``(B, C, H, W)`` -> ``(B, C)``."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1)) if self.mode == "avg" else x.amax(dim=(-2, -1))

    def extra_repr(self) -> str:
        return f"mode={self.mode}"


def _build_pool(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Pool2D)
    return FramePool2d(layer, node.shapes.input.grid)


def _build_global_pool(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, GlobalPool2D)
    return GlobalPool2d(layer.mode)


register("pool2d", TorchKind(_build_pool, spatial_rule, wants_channels_first=always))
register("global_pool2d", TorchKind(_build_global_pool, spatial_rule, wants_channels_first=always))
