"""Torch building blocks with Keras semantics (padding rules, activations, recurrent cells, masks), each family
with the registry entries (``torch_impl.kinds``) of the layer kinds it implements; importing this package
registers every kind."""

from torch_impl.layers import (  # noqa: F401 - registers their kinds
    activation_layers,
    conv_variants,
    merge,
    normalization,
    pooling1d,
    pooling3d,
    regularization,
    reshaping1d,
    resize,
    shape_ops,
    spatial_dropout,
    wrappers,
)
from torch_impl.layers.activations import KerasActivation, activation_fn, make_activation
from torch_impl.layers.conv import FrameConv2d
from torch_impl.layers.conv1d import SignalConv1d, SignalConvTranspose1d
from torch_impl.layers.conv3d import FrameConv3d
from torch_impl.layers.convlstm import ConvLSTM1d, ConvLSTM2d
from torch_impl.layers.dense import DenseLayer
from torch_impl.layers.norm import KerasBatchNorm
from torch_impl.layers.pooling import FramePool2d, GlobalPool2d
from torch_impl.layers.recurrent import KerasGRU, KerasLSTM, KerasSimpleRNN, build_recurrent
from torch_impl.layers.shape_ops import FlattenFrames, MaskingLayer, ReshapeLayer

__all__ = [
    "ConvLSTM1d",
    "ConvLSTM2d",
    "DenseLayer",
    "FlattenFrames",
    "FrameConv2d",
    "FrameConv3d",
    "FramePool2d",
    "GlobalPool2d",
    "KerasActivation",
    "KerasBatchNorm",
    "KerasGRU",
    "KerasLSTM",
    "KerasSimpleRNN",
    "MaskingLayer",
    "ReshapeLayer",
    "SignalConv1d",
    "SignalConvTranspose1d",
    "activation_fn",
    "build_recurrent",
    "make_activation",
]
