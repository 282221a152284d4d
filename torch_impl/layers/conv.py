"""Keras ``Conv2D`` and ``DepthwiseConv2D`` (per frame on frames) with TensorFlow's ``same`` padding, channels-first."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Conv2D, Conv3D, DepthwiseConv2D, Layer, Shape, same_padding
from torch_impl.convert import conv
from torch_impl.kinds import LayerWeights, Shapes, TorchKind, add_bias, always, register, single_weights
from torch_impl.layers.activations import make_activation
from torch_impl.layers.frames import over_frames
from torch_impl.layout import CHANNELS_FIRST, SPATIAL_CHANNEL_DIM, NodePlan, keras_last_dim, spatial_rule


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
    """``nn.Conv2d`` plus Keras' activation and TensorFlow's ``same`` padding, for ``Conv2D`` and ``DepthwiseConv2D``.

    Input frames ``(B, T, C, H, W)`` (every frame, in one call over ``B*T`` frames) or a grid
    ``(B, C, H, W)``; output likewise with ``filters`` channels. Parameters are exactly
    ``nn.Conv2d``'s: ``weight`` (filters, in, kh, kw), ``bias`` (filters,); a depthwise convolution is the grouped one
    (``groups=in``, ``filters = in * depth_multiplier``, weight ``(filters, 1, kh, kw)``).

    TensorFlow pads ``same`` with the odd cell at the bottom/right (even kernels, strides > 1):
    symmetric padding goes into the convolution itself (no copy); only an asymmetric layer pays
    one explicit ``F.pad``. ``softmax_dim``: the axis a softmax activation reduces over, the Keras
    layout's last (see ``layout.keras_last_dim``).
    """

    def __init__(self, layer: Conv2D | DepthwiseConv2D, in_grid: Shape, *, softmax_dim: int = SPATIAL_CHANNEL_DIM) -> None:
        pads = tf_padding((in_grid.height, in_grid.width), layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
        (pad_h, pad_w), explicit = split_padding(pads)
        depthwise = isinstance(layer, DepthwiseConv2D)
        super().__init__(
            in_grid.channels,
            layer.output_channels(in_grid.channels) if isinstance(layer, DepthwiseConv2D) else layer.filters,
            layer.kernel_size,
            stride=layer.strides,
            padding=(pad_h, pad_w),
            dilation=layer.dilation_rate,
            groups=in_grid.channels if depthwise else 1,
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


def conv_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """Conv2D / Conv3D: Keras kernel (*window, in, out) <-> torch weight (out, in, *window); bias (out,)."""
    assert isinstance(layer, (Conv2D, Conv3D))
    cin, window = node.shapes.input.channels, layer.kernel_size
    keras_shapes: Shapes = {"kernel": (*window, cin, layer.filters)}
    torch_shapes: Shapes = {"weight": (layer.filters, cin, *window)}
    add_bias(layer.use_bias, keras_shapes, torch_shapes, layer.filters)
    return single_weights(layer, path, prefix, keras_shapes, torch_shapes, conv.keras_to_torch, conv.torch_to_keras)


def _build_conv2d(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Conv2D)
    return FrameConv2d(layer, node.shapes.input.grid, softmax_dim=keras_last_dim(CHANNELS_FIRST, data_format))


register("conv2d", TorchKind(_build_conv2d, spatial_rule, wants_channels_first=always, weights=conv_weights))
