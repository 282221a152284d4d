"""Parameter-free layers that reshape, permute, repeat or mask: Keras ``Flatten``, ``Reshape``, ``Permute``,
``RepeatVector`` and ``Masking``."""

from __future__ import annotations

import torch
from torch import nn

from lstm2d.spec import Flatten, Layer, Masking, NodeShapes, Permute, RepeatVector, Reshape, Shape
from torch_impl.kinds import Outputs, TorchKind, register
from torch_impl.layout import (
    KERAS,
    FeatureOrder,
    NodeLayouts,
    NodePlan,
    TensorLayout,
    flatten_order,
    keras_rule,
    same_layout_rule,
)


class FlattenFrames(nn.Module):
    """Keras ``Flatten`` per frame: frames ``(B, T, C, H, W)`` -> ``(B, T, C*H*W)``; a grid ``(B, C, H, W)`` -> ``(B, C*H*W)``;
    a sequence ``(B, T, F)`` -> ``(B, T*F)`` (``start_dim`` -2); whole frames ``(B, T, C, H, W)`` -> ``(B, T*C*H*W)``
    (``start_dim`` -4).

    torch's natural (C, H, W) order; the converter permutes the next layer's input weights to match
    Keras' (H, W, C), so nothing is permuted here.
    """

    def __init__(self, start_dim: int = -3) -> None:
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(self.start_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"


class ReshapeLayer(nn.Module):
    """Keras ``Reshape`` on a tensor in Keras' layout: ``(B, ...) -> (B, *dims)`` (``-1``: an open time axis)."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class PermuteLayer(nn.Module):
    """Keras ``Permute(dims)`` on a tensor in Keras' layout: ``x.permute(0, *dims)`` (a view)."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class RepeatLayer(nn.Module):
    """Keras ``RepeatVector``: ``(B, F)`` -> ``(B, n, F)``, a view of the vector at every step (no copy)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1).expand(-1, self.n, -1)

    def extra_repr(self) -> str:
        return f"n={self.n}"


class MaskingLayer(nn.Module):
    """Keras ``Masking``: ``x`` (B, T, F) -> (``x`` with masked steps zeroed, mask (B, T) bool, True = a real step)."""

    def __init__(self, mask_value: float) -> None:
        super().__init__()
        self.mask_value = mask_value

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = (x != self.mask_value).any(dim=-1)
        return torch.where(mask[..., None], x, torch.zeros_like(x)), mask

    def extra_repr(self) -> str:
        return f"mask_value={self.mask_value}"


def _flattened(shape: Shape, given: TensorLayout, keras_order: str, outputs: int, *, whole: bool = False) -> NodeLayouts:
    """A flatten of frames or a grid takes them in whatever layout they have (the feature order it gives records
    the difference: of each frame, or of every frame in turn for ``whole``); a sequence is flattened in Keras'
    layout."""
    if shape.rank <= 2:
        return NodeLayouts((KERAS,), (KERAS,) * outputs)
    taken = TensorLayout(given.channels_first, None)
    order = flatten_order(shape, taken, keras_order)
    if whole and order is not None:
        order = FeatureOrder(order.blocks * (shape.time or 0))  # a whole sequence of frames: one block per frame
    return NodeLayouts((taken,), (TensorLayout(False, order),) * outputs)


def _flatten_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    assert isinstance(layer, Flatten)
    return _flattened(shapes.input, given[0], layer.keras_order(data_format), len(shapes.outputs), whole=layer.whole)


def _reshape_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """A reshape that flattens each frame (or a grid) is a flatten; Keras flattens a channels_first model's frames in
    (C, H, W) order, as torch does. Any other reshape needs Keras' layout."""
    assert isinstance(layer, Reshape)
    if layer.flattens_steps(shapes.input):
        return _flattened(shapes.input, given[0], "chw" if data_format == "channels_first" else "hwc", len(shapes.outputs))
    return keras_rule(layer, shapes, given, data_format)


def _build_flatten(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Flatten)
    return FlattenFrames(-4 if layer.whole else -2 if node.shapes.input.rank == 2 else -3)


def _build_reshape(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Reshape)
    if layer.flattens_steps(node.shapes.input):
        return FlattenFrames(-3)
    return ReshapeLayer(tuple(-1 if d is None else d for d in node.shapes.output.dims))


def _permute_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """A permute of Keras' layout (channels-first frames are moved back first: a view, as the permute is). Features
    permuted after a flatten stay so while they stay the last axis (the next layer's weights absorb the order, as
    ever); moved to another axis, no weight spans them, so they are gathered into Keras' order once, here."""
    assert isinstance(layer, Permute)
    if given[0].order is not None and not layer.moves_last_axis:
        return NodeLayouts(given, (given[0],))
    return keras_rule(layer, shapes, given, data_format)


def _build_permute(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Permute)
    return PermuteLayer(layer.dims)


def _build_repeat(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, RepeatVector)
    return RepeatLayer(layer.n)


def _build_masking(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Masking)
    return MaskingLayer(layer.mask_value)


def _call_masking(module: nn.Module, inputs: list[torch.Tensor], mask: torch.Tensor | None, layer: Layer) -> Outputs:
    """Masking makes the mask the layers after it carry."""
    out, made = module(*inputs)
    return (out,), made


register("flatten", TorchKind(_build_flatten, _flatten_rule))
register("reshape", TorchKind(_build_reshape, _reshape_rule))
register("permute", TorchKind(_build_permute, _permute_rule))
register("repeat_vector", TorchKind(_build_repeat, same_layout_rule))  # each step keeps the vector's feature order
register("masking", TorchKind(_build_masking, same_layout_rule, call=_call_masking))
