"""Keras ``Conv3D`` over the (time, height, width) of frames, TensorFlow ``same`` padding, channels-first."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Conv3D, Layer, Shape
from torch_impl.kinds import TorchKind, always, register
from torch_impl.layers.activations import make_activation
from torch_impl.layers.conv import conv_weights, split_padding, tf_padding
from torch_impl.layout import SPATIAL_CHANNEL_DIM, NodePlan, spatial_rule


class FrameConv3d(nn.Conv3d):
    """Frames ``(B, T, C, H, W)`` -> ``(B, T', filters, H', W')``, time treated as the depth axis.

    Parameters are ``nn.Conv3d``'s: ``weight`` (filters, in, kt, kh, kw), ``bias`` (filters,).
    """

    def __init__(self, layer: Conv3D, frames: Shape) -> None:
        # A free time axis comes with stride 1 over time (spec-checked), where 'same' padding is (k - 1) * d
        # whatever the length: any placeholder length gives it.
        time = frames.time if frames.time is not None else 1
        pads = tf_padding(
            (time, frames.height, frames.width), layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding
        )
        (pad_t, pad_h, pad_w), explicit = split_padding(pads)
        super().__init__(
            frames.channels, layer.filters, layer.kernel_size, stride=layer.strides, padding=(pad_t, pad_h, pad_w),
            dilation=layer.dilation_rate, bias=layer.use_bias,
        )  # fmt: skip
        self.explicit_pad = explicit  # F.pad order: (left, right, top, bottom, front, back)
        self.activation = make_activation(layer.activation, channel_dim=SPATIAL_CHANNEL_DIM)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        volume = frames.transpose(1, 2)  # (B, C, T, H, W)
        if self.explicit_pad is not None:
            volume = F.pad(volume, self.explicit_pad)
        return self.activation(super().forward(volume).transpose(1, 2))  # (B, T', F, H', W')


def _build(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Conv3D)
    return FrameConv3d(layer, node.shapes.input)


register("conv3d", TorchKind(_build, spatial_rule, wants_channels_first=always, weights=conv_weights))
