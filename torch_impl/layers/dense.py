"""Keras ``Dense``: ``nn.Linear`` on the last axis plus an activation."""

from __future__ import annotations

import torch
from torch import nn

from lstm2d.spec import Dense
from torch_impl.layers.activations import make_activation


class DenseLayer(nn.Linear):
    """``(..., in_features) -> (..., units)``; parameters are ``nn.Linear``'s (``weight`` (units, in), ``bias`` (units,))."""

    def __init__(self, layer: Dense, in_features: int) -> None:
        super().__init__(in_features, layer.units, bias=layer.use_bias)
        self.activation = make_activation(layer.activation, channel_dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(super().forward(features))
