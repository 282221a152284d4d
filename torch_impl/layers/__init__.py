"""Torch building blocks with Keras semantics (padding rules, activations)."""

from torch_impl.layers.conv import FrameConv2d
from torch_impl.layers.dense import DenseLayer
from torch_impl.layers.pooling import FramePool2d

__all__ = ["DenseLayer", "FrameConv2d", "FramePool2d"]
