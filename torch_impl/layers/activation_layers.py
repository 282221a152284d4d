"""Keras' activation layers with options: ``ReLU``, ``LeakyReLU``, ``ELU``, ``PReLU`` and ``Softmax``, each Keras'
formula. They take their input in whatever layout it arrives: element-wise, or over the torch dims that hold the Keras
axes (PReLU's alpha converted into that layout, see :mod:`torch_impl.layers.axes`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import ELU, Layer, LeakyReLU, PReLU, ReLU, Softmax
from torch_impl.kinds import LayerWeights, Outputs, TorchKind, register
from torch_impl.layers.axes import AxesWeight, axes_weight, axis_dims
from torch_impl.layers.normalization import named_weights
from torch_impl.layout import NodePlan

SOFTMAX_MASKED = -1e9
"""What Keras' Softmax puts in place of a masked value before the softmax (float32)."""


class KerasReLU(nn.Module):
    """Keras ``ReLU(max_value, negative_slope, threshold)`` (``keras.activations.relu``): ``where(x > threshold, x, 0)``
    (``relu(x)`` at threshold 0), clipped to ``[0, max_value]``, minus ``negative_slope * relu(threshold - x)``."""

    def __init__(self, layer: ReLU) -> None:
        super().__init__()
        self.max_value, self.negative_slope, self.threshold = layer.max_value, layer.negative_slope, layer.threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.negative_slope and self.max_value is None and not self.threshold:
            return F.leaky_relu(x, self.negative_slope)
        out = torch.where(x > self.threshold, x, torch.zeros_like(x)) if self.threshold else F.relu(x)
        if self.max_value is not None:
            out = torch.clamp(out, 0.0, self.max_value)
        if self.negative_slope:
            out = out - self.negative_slope * F.relu(self.threshold - x)
        return out

    def extra_repr(self) -> str:
        return f"max_value={self.max_value}, negative_slope={self.negative_slope}, threshold={self.threshold}"


class KerasPReLU(nn.Module):
    """Keras ``PReLU``: ``relu(x) - alpha * relu(-x)``; ``weight`` (alpha) in torch's layout of the sample, size 1 on the
    shared axes, viewed as ``broadcast``."""

    def __init__(self, weight: AxesWeight) -> None:
        super().__init__()
        self.broadcast = weight.broadcast_shape
        self.weight = nn.Parameter(torch.zeros(weight.torch_shape))  # Keras' default alpha initializer: zeros

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) - self.weight.view(self.broadcast) * F.relu(-x)


class KerasSoftmax(nn.Module):
    """Keras ``Softmax`` over torch ``dims``: ``softmax`` on one, ``exp(x - logsumexp(x))`` over several; with a mask
    (``True``: kept, broadcast against ``x``), masked values are -1e9 before and 0 after, as in Keras."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            x = torch.where(mask, x, torch.full_like(x, SOFTMAX_MASKED))
        if len(self.dims) == 1:
            out = torch.softmax(x, dim=self.dims[0])
        else:
            out = torch.exp(x - torch.logsumexp(x, dim=self.dims, keepdim=True))
        return out if mask is None else torch.where(mask, out, torch.zeros_like(out))

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


def _build_relu(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, ReLU)
    return KerasReLU(layer)


def _build_leaky_relu(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, LeakyReLU)
    return nn.LeakyReLU(layer.negative_slope)


def _build_elu(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, ELU)
    return nn.ELU(layer.alpha)


def _prelu_weight(layer: Layer, node: NodePlan) -> AxesWeight:
    assert isinstance(layer, PReLU)
    every = tuple(range(1, node.shapes.input.rank + 1))
    return axes_weight(every, node, f"{layer.label} shared_axes", shared=layer.shared_axes)


def _build_prelu(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    return KerasPReLU(_prelu_weight(layer, node))


def _prelu_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """alpha (the sample's shape, 1 on the shared axes) <-> weight, in torch's axis and feature order."""
    return named_weights(layer, node, path, prefix, {"alpha": "weight"}, _prelu_weight(layer, node))


def _build_softmax(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Softmax)
    return KerasSoftmax(axis_dims(layer.axis, node, f"{layer.label} axis"))


def _call_softmax(module: nn.Module, inputs: list[torch.Tensor], mask: torch.Tensor | None, layer: Layer) -> Outputs:
    """The mask (a boolean input of the steps, given as ``mask=``) goes into the softmax and no further."""
    return (module(inputs[0], mask),), None


register("relu", TorchKind(_build_relu))
register("leaky_relu", TorchKind(_build_leaky_relu))
register("elu", TorchKind(_build_elu))
register("prelu", TorchKind(_build_prelu, weights=_prelu_weights))
register("softmax", TorchKind(_build_softmax, call=_call_softmax))
