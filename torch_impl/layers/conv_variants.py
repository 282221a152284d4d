"""Keras ``Conv2DTranspose`` / ``Conv3DTranspose`` (Keras' output sizes, TensorFlow's crop), ``DepthwiseConv2D`` and
``SeparableConv2D`` (TensorFlow's ``same`` padding): channels-first torch convolutions, time folded into the batch."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from lstm2d.spec import Conv2DTranspose, Conv3DTranspose, ConvTranspose, DepthwiseConv2D, Layer, SeparableConv2D, Shape
from torch_impl.convert import conv, depthwise
from torch_impl.kinds import LayerWeights, Shapes, TorchKind, add_bias, always, register, single_weights
from torch_impl.layers.activations import make_activation
from torch_impl.layers.conv import FrameConv2d
from torch_impl.layers.frames import over_frames
from torch_impl.layout import CHANNELS_FIRST, SPATIAL_CHANNEL_DIM, NodePlan, keras_last_dim, spatial_rule


def transpose_padding(size: int, kernel: int, stride: int, dilation: int, out: int) -> tuple[int, int, int]:
    """How torch makes Keras' ``out`` cells of a transposed convolution along one axis: ``(padding, output_padding,
    trim)``, the arguments of ``nn.ConvTranspose`` and the cells to cut from the end of its result.

    The full result is ``(size - 1) * stride + k`` long (``k`` the dilated kernel); TensorFlow (and JAX, and Keras' torch
    backend) cut ``before = max(full - out, 0) // 2`` cells from the start and the rest from the end, or, where the full
    result is short (``valid`` with a kernel under the stride, an ``output_padding``), add zeros (plus the bias) at the
    end. torch's ``padding`` cuts ``before`` cells at both ends; the end then has ``trim`` cells too many (an odd cut, a
    view is taken) or misses ``output_padding`` cells, which torch adds (always fewer than the stride).
    """
    full = (size - 1) * stride + (kernel - 1) * dilation + 1
    before = max(full - out, 0) // 2
    after = full - out - before
    return (before, before - after, 0) if after < before else (before, 0, after - before)


class TransposedFrames:
    """What the 2D and 3D transposed convolutions share: the torch arguments for Keras' sizes, and the trim."""

    trim: tuple[int, ...]

    @staticmethod
    def arguments(layer: ConvTranspose, sizes: tuple[int, ...], channels: int) -> tuple[dict[str, object], tuple[int, ...]]:
        """``nn.ConvTranspose`` keyword arguments for input ``sizes`` and ``channels``, and the cells to trim per axis."""
        options = zip(sizes, layer.kernel_size, layer.strides, layer.dilation_rate, layer.output_sizes(sizes), strict=True)
        plans = [transpose_padding(*option) for option in options]
        arguments = {
            "in_channels": channels, "out_channels": layer.filters, "kernel_size": layer.kernel_size,
            "stride": layer.strides, "padding": tuple(p[0] for p in plans), "output_padding": tuple(p[1] for p in plans),
            "dilation": layer.dilation_rate, "bias": layer.use_bias,
        }  # fmt: skip
        return arguments, tuple(p[2] for p in plans)

    def trimmed(self, out: torch.Tensor) -> torch.Tensor:
        """``out`` without the last ``trim`` cells of each windowed axis (the last ``len(trim)`` dims; a view)."""
        for dim, cut in zip(range(-len(self.trim), 0), self.trim, strict=True):
            if cut:
                out = out.narrow(dim, 0, out.shape[dim] - cut)
        return out


class FrameConvTranspose2d(nn.ConvTranspose2d, TransposedFrames):
    """Keras ``Conv2DTranspose`` on frames ``(B, T, C, H, W)`` (every frame, in one call over ``B*T`` frames) or a grid
    ``(B, C, H, W)``. Parameters are ``nn.ConvTranspose2d``'s: ``weight`` (in, filters, kh, kw), ``bias`` (filters,)."""

    def __init__(self, layer: Conv2DTranspose, in_grid: Shape, *, softmax_dim: int = SPATIAL_CHANNEL_DIM) -> None:
        arguments, trim = self.arguments(layer, (in_grid.height, in_grid.width), in_grid.channels)
        super().__init__(**arguments)  # type: ignore[arg-type]  # the arguments of nn.ConvTranspose2d, by name
        self.trim = trim
        self.activation = make_activation(layer.activation, channel_dim=softmax_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # no output_size: Keras' is fixed
        return over_frames(self._frames, x)

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        return self.activation(self.trimmed(super().forward(frames)))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, trim={self.trim}"


class FrameConvTranspose3d(nn.ConvTranspose3d, TransposedFrames):
    """Keras ``Conv3DTranspose``: frames ``(B, T, C, H, W)`` -> ``(B, T', filters, H', W')``, time as the depth axis.
    Parameters are ``nn.ConvTranspose3d``'s: ``weight`` (in, filters, kt, kh, kw), ``bias`` (filters,)."""

    def __init__(self, layer: Conv3DTranspose, frames: Shape) -> None:
        # A free time axis keeps its length (spec-checked: stride 1), where the cut does not depend on it.
        time = frames.time if frames.time is not None else 1
        arguments, trim = self.arguments(layer, (time, frames.height, frames.width), frames.channels)
        super().__init__(**arguments)  # type: ignore[arg-type]  # the arguments of nn.ConvTranspose3d, by name
        self.trim = trim
        self.activation = make_activation(layer.activation, channel_dim=SPATIAL_CHANNEL_DIM)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # no output_size: Keras' is fixed
        volume = self.trimmed(super().forward(frames.transpose(1, 2)))  # (B, filters, T', H', W')
        return self.activation(volume.transpose(1, 2))  # (B, T', filters, H', W')

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, trim={self.trim}"


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D`` on frames ``(B, T, C, H, W)`` or a grid ``(B, C, H, W)``: ``depthwise`` (a grouped
    :class:`FrameConv2d` with TensorFlow's padding, no bias), then ``pointwise`` (a 1x1 ``nn.Conv2d`` with the bias),
    then the activation."""

    def __init__(self, layer: SeparableConv2D, in_grid: Shape, *, softmax_dim: int = SPATIAL_CHANNEL_DIM) -> None:
        super().__init__()
        self.depthwise = FrameConv2d(layer.depthwise(), in_grid)
        self.pointwise = nn.Conv2d(self.depthwise.out_channels, layer.filters, 1, bias=layer.use_bias)
        self.activation = make_activation(layer.activation, channel_dim=softmax_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return over_frames(self._frames, x)

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        return self.activation(self.pointwise(self.depthwise(frames)))


def _transpose_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """Keras kernel (*window, filters, in) <-> torch weight (in, filters, *window); bias (filters,)."""
    assert isinstance(layer, ConvTranspose)
    cin, window = node.shapes.input.channels, layer.kernel_size
    keras_shapes: Shapes = {"kernel": (*window, layer.filters, cin)}
    torch_shapes: Shapes = {"weight": (cin, layer.filters, *window)}
    add_bias(layer.use_bias, keras_shapes, torch_shapes, layer.filters)
    return single_weights(layer, path, prefix, keras_shapes, torch_shapes, conv.keras_to_torch, conv.torch_to_keras)


def _depthwise_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """Keras kernel (kh, kw, in, m) <-> torch weight (in * m, 1, kh, kw); bias (in * m,)."""
    assert isinstance(layer, DepthwiseConv2D)
    cin, (kh, kw), multiplier = node.shapes.input.channels, layer.kernel_size, layer.depth_multiplier
    keras_shapes: Shapes = {"kernel": (kh, kw, cin, multiplier)}
    torch_shapes: Shapes = {"weight": (cin * multiplier, 1, kh, kw)}
    add_bias(layer.use_bias, keras_shapes, torch_shapes, cin * multiplier)
    to_keras = partial(depthwise.torch_to_keras, depth_multiplier=multiplier)
    return single_weights(layer, path, prefix, keras_shapes, torch_shapes, depthwise.keras_to_torch, to_keras)


def _separable_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """Keras depthwise_kernel (kh, kw, in, m), pointwise_kernel (1, 1, in * m, filters), bias (filters,) <-> torch
    depthwise.weight (in * m, 1, kh, kw), pointwise.weight (filters, in * m, 1, 1), pointwise.bias (filters,)."""
    assert isinstance(layer, SeparableConv2D)
    cin, (kh, kw), multiplier = node.shapes.input.channels, layer.kernel_size, layer.depth_multiplier
    keras_shapes: Shapes = {
        "depthwise_kernel": (kh, kw, cin, multiplier), "pointwise_kernel": (1, 1, cin * multiplier, layer.filters),
    }  # fmt: skip
    torch_shapes: Shapes = {
        "depthwise.weight": (cin * multiplier, 1, kh, kw),
        "pointwise.weight": (layer.filters, cin * multiplier, 1, 1),
    }
    if layer.use_bias:
        keras_shapes["bias"] = torch_shapes["pointwise.bias"] = (layer.filters,)
    to_keras = partial(depthwise.separable_to_keras, depth_multiplier=multiplier)
    return single_weights(layer, path, prefix, keras_shapes, torch_shapes, depthwise.separable_to_torch, to_keras)


def _build_transpose2d(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Conv2DTranspose)
    return FrameConvTranspose2d(layer, node.shapes.input.grid, softmax_dim=keras_last_dim(CHANNELS_FIRST, data_format))


def _build_transpose3d(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Conv3DTranspose)
    return FrameConvTranspose3d(layer, node.shapes.input)


def _build_depthwise(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, DepthwiseConv2D)
    return FrameConv2d(layer, node.shapes.input.grid, softmax_dim=keras_last_dim(CHANNELS_FIRST, data_format))


def _build_separable(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, SeparableConv2D)
    return SeparableConv2d(layer, node.shapes.input.grid, softmax_dim=keras_last_dim(CHANNELS_FIRST, data_format))


register("conv2d_transpose", TorchKind(_build_transpose2d, spatial_rule, wants_channels_first=always, weights=_transpose_weights))
register("conv3d_transpose", TorchKind(_build_transpose3d, spatial_rule, wants_channels_first=always, weights=_transpose_weights))
register("depthwise_conv2d", TorchKind(_build_depthwise, spatial_rule, wants_channels_first=always, weights=_depthwise_weights))
register("separable_conv2d", TorchKind(_build_separable, spatial_rule, wants_channels_first=always, weights=_separable_weights))
