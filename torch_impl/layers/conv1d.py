"""Keras ``Conv1D`` and ``Conv1DTranspose`` on torch's ``nn.Conv1d`` / ``nn.ConvTranspose1d``, and what the 1D layers'
torch modules share.

Every 1D module takes and gives Keras' layout: a sequence ``(B, T, F)`` (one signal per sample: length T, F
channels) or 1D signals ``(B, T, L, C)`` (one per step), and runs torch's channels-first kernels on transposed views
(:func:`over_signals`). So the layout plan keeps these tensors as Keras has them, and an LSTM after a Conv1D front end
reads its natural ``(B, T, F)``. (Measured against channels-first storage between the 1D layers, a transpose at the
entry and one before the LSTM, on three Conv1D and a MaxPooling1D before an LSTM: the same time within noise on
CPU, in inference and training; oneDNN reads the transposed view's memory as it is, with no copy.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import Conv1D, Conv1DTranspose, Layer, NodeShapes
from torch_impl.convert import conv1d
from torch_impl.kinds import LayerWeights, Shapes, TorchKind, add_bias, register, single_weights
from torch_impl.layers.activations import make_activation
from torch_impl.layers.conv import tf_padding
from torch_impl.layout import KERAS, NodeLayouts, NodePlan, TensorLayout, with_input_order


def over_signals(op: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``op`` on channels-first 1D signals ``(N, C, L)``: a sequence ``(B, T, F)`` is one signal per sample (``N = B``,
    ``L = T``, ``C = F``); 1D signals ``(B, T, L, C)`` one per step (``N = B*T``, time folded into the batch). Keras'
    layout in and out; the transposes are views."""
    signals = x.flatten(0, 1) if x.dim() == 4 else x  # (N, L, C)
    out = op(signals.transpose(1, 2)).transpose(1, 2)  # (N, L', C')
    return out.unflatten(0, x.shape[:2]) if x.dim() == 4 else out


def signal_padding(length: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """``(before, after)`` zeros around a signal of ``length``: TensorFlow's ``same`` (the odd cell after), ``causal``
    ``(kernel - 1) * dilation`` before only, ``valid`` none. Computed per call: a sequence's length may be open."""
    if padding == "causal":
        return (kernel - 1) * dilation, 0
    return tf_padding((length,), (kernel,), (stride,), (dilation,), padding)[0]


# -- layout rules ----------------------------------------------------------------------------------------------------


def conv_signal_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """Conv1D / Conv1DTranspose: a sequence's features (the input channels) in any order, which the converter absorbs
    in the kernel (grouped channels in Keras' order: the groups split it); 1D signals in Keras' layout; Keras' out."""
    grouped = isinstance(layer, Conv1D) and layer.groups > 1
    order = given[0].order if shapes.input.rank == 2 and not grouped else None
    return NodeLayouts((TensorLayout(False, order),), (KERAS,) * len(shapes.outputs))


def per_channel_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """1D pooling, padding, cropping and upsampling, global pooling: per channel, so a sequence's features keep the
    order they have; 1D signals in Keras' layout."""
    layout = TensorLayout(False, given[0].order) if shapes.input.rank == 2 else KERAS
    return NodeLayouts((layout,), (layout,) * len(shapes.outputs))


# -- modules -----------------------------------------------------------------------------------------------------------


class SignalConv1d(nn.Conv1d):
    """Keras ``Conv1D``: ``(B, T, F)`` -> ``(B, T', filters)`` over time, or ``(B, T, L, C)`` -> ``(B, T, L', filters)`` over
    every step's signal. Parameters are exactly ``nn.Conv1d``'s: ``weight`` (filters, in / groups, k), ``bias``
    (filters,). Keras' padding (``keras_padding``: valid, TensorFlow's same, causal) is applied per call: symmetric
    inside the convolution, otherwise one explicit ``F.pad``. The activation works on Keras' layout (softmax over the
    filters, its last axis)."""

    def __init__(self, layer: Conv1D, channels: int) -> None:
        super().__init__(
            channels, layer.filters, layer.kernel_size, stride=layer.strides, dilation=layer.dilation_rate,
            groups=layer.groups, bias=layer.use_bias,
        )  # fmt: skip
        self.keras_padding = layer.padding
        self.activation = make_activation(layer.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(over_signals(self._signals, x))

    def _signals(self, signals: torch.Tensor) -> torch.Tensor:
        (kernel,), (stride,), (dilation,) = self.kernel_size, self.stride, self.dilation
        before, after = signal_padding(signals.shape[-1], kernel, stride, dilation, self.keras_padding)
        if before != after:
            signals, before = F.pad(signals, (before, after)), 0
        return F.conv1d(signals, self.weight, self.bias, self.stride, before, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, keras_padding={self.keras_padding}"


class SignalConvTranspose1d(nn.ConvTranspose1d):
    """Keras ``Conv1DTranspose``: ``(B, T, F)`` -> ``(B, T', filters)``, or per step ``(B, T, L, C)`` -> ``(B, T, L', filters)``.

    TensorFlow crops the full transposed convolution (length ``(n - 1) * s + k``, ``k`` the dilated kernel) to Keras'
    output length: ``max(k - s, 0) // 2`` cells at the start for ``same`` (none for ``valid``), zeros appended where
    the full output is shorter. That is torch's ``padding`` (a crop at both ends) and ``output_padding`` (cells appended),
    except where ``k - s`` is odd under ``same``: one cell more is cut at the end. Parameters are exactly
    ``nn.ConvTranspose1d``'s: ``weight`` (in, filters, k), ``bias`` (filters,).
    """

    def __init__(self, layer: Conv1DTranspose, channels: int) -> None:
        kernel, stride = layer.dilated_kernel, layer.strides[0]
        before = max(kernel - stride, 0) // 2 if layer.padding == "same" else 0
        appended = stride - kernel + 2 * before if layer.padding == "same" else max(stride - kernel, 0)  # -1 to s - 1
        super().__init__(
            channels, layer.filters, layer.kernel_size, stride=layer.strides, padding=before,
            output_padding=max(appended, 0), dilation=layer.dilation_rate, bias=layer.use_bias,
        )  # fmt: skip
        self.end_crop = max(-appended, 0)
        self.activation = make_activation(layer.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # no output_size: Keras fixes the length
        return self.activation(over_signals(self._signals, x))

    def _signals(self, signals: torch.Tensor) -> torch.Tensor:
        out = super().forward(signals)
        return out[..., : out.shape[-1] - self.end_crop] if self.end_crop else out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, end_crop={self.end_crop}"


# -- registry entries ----------------------------------------------------------------------------------------------


def _build(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    channels = node.shapes.input.channels
    if isinstance(layer, Conv1D):
        return SignalConv1d(layer, channels)
    assert isinstance(layer, Conv1DTranspose)
    return SignalConvTranspose1d(layer, channels)


def _weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """Conv1D: Keras kernel (k, in / groups, filters) <-> weight (filters, in / groups, k); Conv1DTranspose: kernel
    (k, filters, in) <-> weight (in, filters, k); bias (filters,); the input channels in the order they reach the layer."""
    assert isinstance(layer, (Conv1D, Conv1DTranspose))
    cin, (k,), order = node.shapes.input.channels, layer.kernel_size, node.layouts.inputs[0].order
    if isinstance(layer, Conv1D):
        keras_shapes: Shapes = {"kernel": (k, cin // layer.groups, layer.filters)}
        torch_shapes: Shapes = {"weight": (layer.filters, cin // layer.groups, k)}
        input_axis = 1
    else:
        keras_shapes, torch_shapes, input_axis = {"kernel": (k, layer.filters, cin)}, {"weight": (cin, layer.filters, k)}, 2
    add_bias(layer.use_bias, keras_shapes, torch_shapes, layer.filters)
    to_torch = with_input_order(partial(conv1d.keras_to_torch, input_axis=input_axis), order)
    to_keras = with_input_order(partial(conv1d.torch_to_keras, input_axis=input_axis), order)
    return single_weights(layer, path, prefix, keras_shapes, torch_shapes, to_torch, to_keras)


for _kind in ("conv1d", "conv1d_transpose"):
    register(_kind, TorchKind(_build, conv_signal_rule, weights=_weights))
