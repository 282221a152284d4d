"""Keras merges: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum`` and ``Concatenate``.

Element-wise merges take every input in the first one's layout (channels-first frames stay so; features
permuted alike stay so) and broadcast axes of size 1, as Keras does. ``Concatenate`` joins along the torch
dim that holds the Keras axis; along the features it joins their orders too, so a flatten's permutation
still reaches the next layer's weights.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import torch
from torch import nn

from lstm2d.spec import Concatenate, Layer, NodeShapes
from torch_impl.kinds import TorchKind, register
from torch_impl.layout import FeatureOrder, NodeLayouts, NodePlan, TensorLayout, same_layout_rule, torch_dim

MergeFn = Callable[[list[torch.Tensor]], torch.Tensor]
MERGES: dict[str, MergeFn] = {
    "add": lambda xs: functools.reduce(operator.add, xs),
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": lambda xs: functools.reduce(operator.mul, xs),
    "average": lambda xs: functools.reduce(operator.add, xs) / len(xs),
    "maximum": lambda xs: functools.reduce(torch.maximum, xs),
    "minimum": lambda xs: functools.reduce(torch.minimum, xs),
}
"""Keras' merge functions (``keras/src/layers/merging``): sums in input order, ``Average`` divides the sum."""


class ElementwiseMerge(nn.Module):
    """Two or more tensors of one shape (or with axes of size 1 that broadcast) -> one, element by element."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.merge = MERGES[kind]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.merge(list(inputs))

    def extra_repr(self) -> str:
        return self.kind


class ConcatenateLayer(nn.Module):
    """``torch.cat`` along ``dim`` (the torch dim of the Keras axis, in the inputs' layout)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _concatenate_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """Inputs in the first one's channel layout. Joined along the features, each keeps its order and the output's
    is theirs end to end; joined along another axis, they share one order."""
    assert isinstance(layer, Concatenate)
    rank = shapes.input.rank
    if layer.sample_axis(rank) != rank - 1 or given[0].channels_first:
        return same_layout_rule(layer, shapes, given, data_format)
    taken = tuple(TensorLayout(False, g.order) for g in given)
    if all(g.order is None for g in taken):
        return NodeLayouts(taken, (TensorLayout(),))
    orders = [layout.order or FeatureOrder(((shape.features,),)) for layout, shape in zip(taken, shapes.inputs, strict=True)]
    return NodeLayouts(taken, (TensorLayout(False, sum(orders[1:], orders[0])),))


def _build_elementwise(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    return ElementwiseMerge(layer.kind)


def _build_concatenate(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Concatenate)
    shape = node.shapes.input
    return ConcatenateLayer(torch_dim(layer.sample_axis(shape.rank), shape, node.layouts.inputs[0]))


for _kind in MERGES:
    register(_kind, TorchKind(_build_elementwise, same_layout_rule))
register("concatenate", TorchKind(_build_concatenate, _concatenate_rule))
