"""Per-sample normalisation and rescaling with Keras' formulas: ``LayerNormalization``, ``GroupNormalization``,
``UnitNormalization``, ``RMSNormalization``, ``Normalization`` and ``Rescaling``.

Each takes its input in whatever layout it arrives (channels-first frames, features permuted after a flatten) and
reduces over the torch dims that hold the Keras axes: a normalisation over some axes does not care how the values
along them are ordered, and the weights spanning them (gamma, beta, the statistics) are converted into the same
layout (:mod:`torch_impl.layers.axes`). Only ``GroupNormalization`` needs Keras' feature order: its groups are runs
of consecutive Keras features.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import (
    KERAS_EPSILON,
    UNIT_NORM_EPSILON,
    GroupNorm,
    Layer,
    LayerNorm,
    NodeShapes,
    Normalization,
    Rescaling,
    RMSNorm,
    UnitNorm,
)
from lstm2d.spec.axes import sample_axes
from torch_impl.kinds import Converter, LayerWeights, Shapes, TorchKind, register, single_weights
from torch_impl.layers.axes import AxesWeight, axes_weight, axis_dims
from torch_impl.layout import NodeLayouts, NodePlan, TensorLayout, torch_dim


def named_weights(
    layer: Layer, node: NodePlan, path: str, prefix: str, names: dict[str, str], weight: AxesWeight
) -> list[LayerWeights]:
    """The layer's ``{Keras name: torch name}`` weights, each spanning ``weight``'s axes; none if ``names`` is empty."""
    if not names:
        return []
    keras_shapes: Shapes = dict.fromkeys(names, weight.keras_shape)
    torch_shapes: Shapes = dict.fromkeys(names.values(), weight.torch_shape)
    to_keras_name = {t: k for k, t in names.items()}
    return single_weights(
        layer, path, prefix, keras_shapes, torch_shapes,
        lambda **keras: {names[k]: weight.to_torch(v) for k, v in keras.items()},
        lambda **state: {to_keras_name[t]: weight.to_keras(v) for t, v in state.items()},
    )  # fmt: skip


class KerasLayerNorm(nn.Module):
    """Keras ``LayerNormalization`` over the torch ``dims`` (negative, ascending) of ``x``; ``weight`` (gamma) and
    ``bias`` (beta) have the sizes of those dims, viewed as ``broadcast`` (the per-sample shape with 1 elsewhere).

    Normalising the last dims is ``F.layer_norm`` (one fused kernel); any other dims (the channels of channels-first
    frames, or the time axis) are Keras' own computation: ``inv = rsqrt(var + eps) * gamma``, ``x * inv + (beta -
    mean * inv)``.
    """

    def __init__(self, layer: LayerNorm, weight: AxesWeight) -> None:
        super().__init__()
        self.dims = weight.dims
        self.broadcast = weight.broadcast_shape
        self.eps = layer.epsilon
        self.rms_scaling = layer.rms_scaling
        self.weight = nn.Parameter(torch.ones(weight.torch_shape)) if layer.has_gamma else None
        self.bias = nn.Parameter(torch.zeros(weight.torch_shape)) if layer.has_beta else None
        self.fused = not layer.rms_scaling and self.dims == tuple(range(-len(self.dims), 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return F.layer_norm(x, x.shape[x.dim() - len(self.dims) :], self.weight, self.bias, self.eps)
        var, mean = torch.var_mean(x, dim=self.dims, keepdim=True, correction=0)
        inv = torch.rsqrt(var + self.eps)
        if self.rms_scaling:  # Keras' deprecated option: scaled by the variance, not centred
            out = x * inv
            return out if self.weight is None else out * self.weight.view(self.broadcast)
        if self.weight is not None:
            inv = inv * self.weight.view(self.broadcast)
        shift = -mean * inv
        if self.bias is not None:
            shift = shift + self.bias.view(self.broadcast)
        return x * inv + shift

    def extra_repr(self) -> str:
        return f"dims={self.dims}, eps={self.eps}, rms_scaling={self.rms_scaling}"


class KerasGroupNorm(nn.Module):
    """Keras ``GroupNormalization`` on torch dim ``dim`` (negative) of ``x``: that axis split into ``groups`` runs of
    consecutive features, each normalised over its run and every other axis but the batch; ``weight`` and ``bias``
    ``(features,)``. A tensor ``(N, C, *)`` is ``F.group_norm``; others (channels-first frames ``(B, T, C, H, W)``, a
    sequence's features) Keras' computation on the grouped view: ``inv = rsqrt(var + eps) * gamma``, ``x * inv + (beta -
    mean * inv)``."""

    def __init__(self, layer: GroupNorm, dim: int, features: int, groups: int) -> None:
        super().__init__()
        self.dim, self.groups, self.eps = dim, groups, layer.epsilon
        self.weight = nn.Parameter(torch.ones(features)) if layer.scale else None
        self.bias = nn.Parameter(torch.zeros(features)) if layer.center else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = x.dim() + self.dim
        if dim == 1 and (self.weight is None) == (self.bias is None):  # torch 2.13's backward fails given only one
            return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)
        features = x.shape[dim]
        grouped = x.unflatten(dim, (self.groups, features // self.groups))  # (B, ..., G, C/G, ...)
        reduced = tuple(d for d in range(1, grouped.dim()) if d != dim)
        var, mean = torch.var_mean(grouped, dim=reduced, keepdim=True, correction=0)
        inv = torch.rsqrt(var + self.eps)
        shape = [1] * grouped.dim()
        shape[dim : dim + 2] = [self.groups, features // self.groups]
        if self.weight is not None:
            inv = inv * self.weight.view(shape)
        shift = -mean * inv
        if self.bias is not None:
            shift = shift + self.bias.view(shape)
        return (grouped * inv + shift).flatten(dim, dim + 1)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, dim={self.dim}, eps={self.eps}"


class KerasUnitNorm(nn.Module):
    """Keras ``UnitNormalization`` over torch ``dims``: ``x * min(rsqrt(sum(x^2)), 1e12)``."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inv = torch.rsqrt(torch.square(x).sum(dim=self.dims, keepdim=True))
        return x * torch.clamp(inv, max=1.0 / UNIT_NORM_EPSILON)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class KerasRMSNorm(nn.Module):
    """Keras ``RMSNormalization`` over the torch ``dims`` (negative, ascending) of ``x``: ``x * rsqrt(mean(x^2) + eps) *
    weight``, ``weight`` (Keras' scale) of the sizes of those dims, viewed as ``broadcast``. The last dims are
    ``F.rms_norm`` (one fused kernel); others (the channels of channels-first frames) the same formula written out."""

    def __init__(self, layer: RMSNorm, weight: AxesWeight) -> None:
        super().__init__()
        self.dims = weight.dims
        self.broadcast = weight.broadcast_shape
        self.eps = layer.epsilon
        self.weight = nn.Parameter(torch.ones(weight.torch_shape))
        self.fused = self.dims == tuple(range(-len(self.dims), 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return F.rms_norm(x, x.shape[x.dim() - len(self.dims) :], self.weight, self.eps)
        rms = torch.rsqrt(torch.square(x).mean(dim=self.dims, keepdim=True) + self.eps)
        return x * rms * self.weight.view(self.broadcast)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, eps={self.eps}"


class KerasNormalization(nn.Module):
    """Keras ``Normalization``: ``(x - mean) / max(sqrt(variance), 1e-7)``, or with ``invert`` ``mean + x * max(...)``.

    ``mean`` and ``variance`` are buffers of the kept axes' sizes in torch's layout, viewed as ``broadcast``: the
    adapted layer's weights (and ``count``, the number of samples ``adapt`` saw, kept for the file), or the numbers
    the description gives (not in the state dict, like any constant of the architecture).
    """

    mean: torch.Tensor
    variance: torch.Tensor

    def __init__(self, layer: Normalization, weight: AxesWeight) -> None:
        super().__init__()
        self.invert = layer.invert
        self.broadcast = weight.broadcast_shape
        if layer.adapted:
            self.register_buffer("mean", torch.zeros(weight.torch_shape))
            self.register_buffer("variance", torch.ones(weight.torch_shape))
            self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        else:
            mean, variance = layer.statistics(weight.keras_shape)
            self.register_buffer("mean", torch.from_numpy(weight.to_torch(mean)), persistent=False)
            self.register_buffer("variance", torch.from_numpy(weight.to_torch(variance)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.view(self.broadcast)
        std = torch.clamp(torch.sqrt(self.variance.view(self.broadcast)), min=KERAS_EPSILON)
        return mean + x * std if self.invert else (x - mean) / std

    def extra_repr(self) -> str:
        return f"invert={self.invert}"


class KerasRescaling(nn.Module):
    """Keras ``Rescaling``: ``x * scale + offset``."""

    def __init__(self, scale: float, offset: float) -> None:
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset

    def extra_repr(self) -> str:
        return f"scale={self.scale}, offset={self.offset}"


# -- registry entries ---------------------------------------------------------------------------------------------


def _layer_norm_weight(layer: Layer, node: NodePlan) -> AxesWeight:
    assert isinstance(layer, LayerNorm)
    return axes_weight(layer.axis, node, f"{layer.label} axis")


def _build_layer_norm(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, LayerNorm)
    return KerasLayerNorm(layer, _layer_norm_weight(layer, node))


def _layer_norm_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """gamma, beta <-> weight, bias: the normalised axes' sizes, in torch's axis and feature order."""
    assert isinstance(layer, LayerNorm)
    names = {**({"gamma": "weight"} if layer.has_gamma else {}), **({"beta": "bias"} if layer.has_beta else {})}
    return named_weights(layer, node, path, prefix, names, _layer_norm_weight(layer, node))


def _group_norm_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """Channels first or not, as given, but the features in Keras' order: a group is a run of consecutive Keras features,
    which a flatten's permutation scatters, so permuted features are gathered back once here."""
    taken = TensorLayout(given[0].channels_first, None)
    return NodeLayouts((taken,), (taken,))


def _group_norm_dim(layer: GroupNorm, node: NodePlan) -> int:
    """The torch dim (negative) of the grouped axis."""
    shape = node.shapes.input
    (axis,) = sample_axes((layer.axis,), shape, node.data_format, f"{layer.label} axis")
    return torch_dim(axis, shape, node.layouts.inputs[0])


def _build_group_norm(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, GroupNorm)
    shape = node.shapes.input
    features, groups = layer.features(shape, data_format), layer.group_count(shape, data_format)
    return KerasGroupNorm(layer, _group_norm_dim(layer, node), features, groups)


def _group_norm_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """gamma, beta <-> weight, bias, each ``(features,)``, the same numbers."""
    assert isinstance(layer, GroupNorm)
    n = layer.features(node.shapes.input, node.data_format)
    names = {**({"gamma": "weight"} if layer.scale else {}), **({"beta": "bias"} if layer.center else {})}
    if not names:
        return []
    return single_weights(
        layer, path, prefix, dict.fromkeys(names, (n,)), dict.fromkeys(names.values(), (n,)),
        lambda **keras: {names[k]: v.copy() for k, v in keras.items()},
        lambda **state: {k: state[t].copy() for k, t in names.items()},
    )  # fmt: skip


def _build_unit_norm(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, UnitNorm)
    return KerasUnitNorm(axis_dims(layer.axis, node, f"{layer.label} axis"))


def _rms_norm_weight(layer: Layer, node: NodePlan) -> AxesWeight:
    assert isinstance(layer, RMSNorm)
    return axes_weight(layer.axis, node, f"{layer.label} axis")


def _build_rms_norm(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, RMSNorm)
    return KerasRMSNorm(layer, _rms_norm_weight(layer, node))


def _rms_norm_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """scale <-> weight: the normalised axes' sizes, in torch's axis and feature order."""
    return named_weights(layer, node, path, prefix, {"scale": "weight"}, _rms_norm_weight(layer, node))


def _normalization_weight(layer: Layer, node: NodePlan) -> AxesWeight:
    assert isinstance(layer, Normalization)
    return axes_weight(layer.axis, node, f"{layer.label} axis")


def _build_normalization(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Normalization)
    return KerasNormalization(layer, _normalization_weight(layer, node))


def _normalization_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """An adapted layer's mean, variance (the kept axes' sizes, in torch's axis and feature order) and count ``()``."""
    assert isinstance(layer, Normalization)
    if not layer.adapted:
        return []
    weight = _normalization_weight(layer, node)
    keras_shapes: Shapes = {"mean": weight.keras_shape, "variance": weight.keras_shape, "count": ()}
    torch_shapes: Shapes = {"mean": weight.torch_shape, "variance": weight.torch_shape, "count": ()}

    def convert(to: Callable[[np.ndarray], np.ndarray]) -> Converter:  # of the arrays given (gradients: none)
        return lambda **arrays: {k: v.copy() if k == "count" else to(v) for k, v in arrays.items()}

    return single_weights(layer, path, prefix, keras_shapes, torch_shapes, convert(weight.to_torch), convert(weight.to_keras))


def _build_rescaling(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Rescaling)
    return KerasRescaling(layer.scale, layer.offset)


register("layer_norm", TorchKind(_build_layer_norm, weights=_layer_norm_weights))
register("group_norm", TorchKind(_build_group_norm, _group_norm_rule, weights=_group_norm_weights))
register("unit_norm", TorchKind(_build_unit_norm))
register("rms_norm", TorchKind(_build_rms_norm, weights=_rms_norm_weights))
register("normalization", TorchKind(_build_normalization, weights=_normalization_weights))
register("rescaling", TorchKind(_build_rescaling))

__all__ = [
    "KerasGroupNorm",
    "KerasLayerNorm",
    "KerasNormalization",
    "KerasRMSNorm",
    "KerasRescaling",
    "KerasUnitNorm",
    "named_weights",
]
