"""Keras activation names as torch modules (parameter-free, so they never appear in a state dict)."""

from __future__ import annotations

from torch import nn


def make_activation(name: str, *, channel_dim: int) -> nn.Module:
    """The torch module for a Keras activation name.

    ``channel_dim`` is the axis Keras' softmax reduces over (Keras uses the last axis,
    which is the channel axis in Keras layout; in torch's NCHW frames it is dim 1).
    """
    if name == "linear":
        return nn.Identity()
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "softmax":
        return nn.Softmax(dim=channel_dim)
    raise ValueError(f"activation {name!r} is not supported; expected linear, relu, tanh, sigmoid or softmax")
