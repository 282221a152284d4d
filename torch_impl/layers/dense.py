"""Keras ``Dense``: ``nn.Linear`` on the last axis plus an activation; on channels-first frames and grids (their
channels, Keras' last axis), the same weights as a 1x1 convolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Dense, Layer, NodeShapes
from torch_impl.convert import dense
from torch_impl.kinds import LayerWeights, Shapes, TorchKind, add_bias, register, single_weights
from torch_impl.layers.activations import make_activation
from torch_impl.layers.frames import over_frames
from torch_impl.layout import (
    CHANNELS_FIRST,
    KERAS,
    SPATIAL_CHANNEL_DIM,
    NodeLayouts,
    NodePlan,
    TensorLayout,
    with_input_order,
)


class DenseLayer(nn.Linear):
    """``(..., in_features) -> (..., units)``; parameters are ``nn.Linear``'s (``weight`` (units, in), ``bias`` (units,)).

    With ``channels_first``, frames ``(B, T, C, H, W)`` or a grid ``(B, C, H, W)`` -> ``(B, [T,] units, H, W)``: the
    weight as a 1x1 convolution over all ``B*T`` frames. That keeps the tensor channels first, as the convolutions
    around it want it, and is a GEMM on the contiguous (C, H*W) planes: on a 2-core CPU 3.3x (256 frames of 32 x
    16 x 16 -> 16) and 4.6x (128 of 64 x 8 x 8 -> 64) faster than moving the channels last for ``nn.Linear`` and back
    (the moves cost a copy each way).
    """

    def __init__(self, layer: Dense, in_features: int, *, channels_first: bool = False) -> None:
        super().__init__(in_features, layer.units, bias=layer.use_bias)
        self.channels_first = channels_first
        self.activation = make_activation(layer.activation, channel_dim=SPATIAL_CHANNEL_DIM if channels_first else -1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.channels_first:
            kernel = self.weight[:, :, None, None]  # (units, C, 1, 1)
            return self.activation(over_frames(lambda frames: F.conv2d(frames, kernel, self.bias), features))
        return self.activation(super().forward(features))


def _dense_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """Frames and grids stored channels first stay so (a 1x1 convolution, see :class:`DenseLayer`); anything else in
    Keras' layout, its features in any order (the converted weights absorb it), out in Keras' order."""
    if shapes.input.rank in (3, 4) and given[0].channels_first:
        return NodeLayouts((CHANNELS_FIRST,), (CHANNELS_FIRST,))
    return NodeLayouts((TensorLayout(False, given[0].order),), (KERAS,))


def _build(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Dense)
    return DenseLayer(layer, node.shapes.input.features, channels_first=node.layouts.inputs[0].channels_first)


def _weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """Keras kernel (in, out) <-> torch weight (out, in), the input rows in the order torch's features arrive in."""
    assert isinstance(layer, Dense)
    n_in, order = node.shapes.input.features, node.layouts.inputs[0].order
    keras_shapes: Shapes = {"kernel": (n_in, layer.units)}
    torch_shapes: Shapes = {"weight": (layer.units, n_in)}
    add_bias(layer.use_bias, keras_shapes, torch_shapes, layer.units)
    return single_weights(
        layer, path, prefix, keras_shapes, torch_shapes,
        with_input_order(dense.keras_to_torch, order), with_input_order(dense.torch_to_keras, order),
    )  # fmt: skip


register("dense", TorchKind(_build, _dense_rule, weights=_weights))
