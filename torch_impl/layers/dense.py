"""Keras ``Dense``: ``nn.Linear`` on the last axis plus an activation."""

from __future__ import annotations

import torch
from torch import nn

from lstm2d.spec import Dense, Layer
from torch_impl.convert import dense
from torch_impl.kinds import LayerWeights, Shapes, TorchKind, add_bias, register, single_weights
from torch_impl.layers.activations import make_activation
from torch_impl.layout import NodePlan, features_rule, with_input_order


class DenseLayer(nn.Linear):
    """``(..., in_features) -> (..., units)``; parameters are ``nn.Linear``'s (``weight`` (units, in), ``bias`` (units,))."""

    def __init__(self, layer: Dense, in_features: int) -> None:
        super().__init__(in_features, layer.units, bias=layer.use_bias)
        self.activation = make_activation(layer.activation, channel_dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(super().forward(features))


def _build(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Dense)
    return DenseLayer(layer, node.shapes.input.features)


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


register("dense", TorchKind(_build, features_rule, weights=_weights))
