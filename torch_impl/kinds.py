"""The torch side of every layer kind, one registry entry per kind: its module, how it treats tensor layouts, how it
is called in the graph, and where its weights go (shapes on both sides and the converters between them).

Entries are declared next to their modules, in ``torch_impl.layers``; :data:`TORCH_KINDS` is keyed by
``lstm2d.spec``'s ``kind``, and a test checks it covers every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lstm2d.spec import Layer, NodeShapes
from torch_impl.layout import LayoutRule, NodePlan, same_layout_rule

TensorShape = tuple[int, ...]
Shapes = dict[str, TensorShape]
Converter = Callable[..., dict[str, np.ndarray]]


@dataclass(frozen=True)
class LayerWeights:
    """One layer's tensors on both sides and the functions that convert between them.

    ``name`` is the layer's path in the Keras model (``conv``, or ``backbone/conv`` inside a nested model);
    ``torch_prefix`` the state-dict prefix of its tensors (``layers.conv.``, ``layers.td.layer.layers.conv.``).
    """

    name: str
    layer: Layer
    torch_prefix: str
    keras_shapes: Shapes
    torch_shapes: Shapes  # keys relative to torch_prefix
    to_torch: Converter
    to_keras: Converter

    @property
    def kind(self) -> str:
        return self.layer.kind


WeightsFn = Callable[[Layer, NodePlan, str, str], list[LayerWeights]]
"""``weights(layer, node, path, prefix)``: the layer's weights (and those of the layers it holds)."""
Outputs = tuple[tuple[torch.Tensor, ...], torch.Tensor | None]
CallFn = Callable[[nn.Module, list[torch.Tensor], "torch.Tensor | None", Layer], Outputs]
"""``call(module, inputs, mask, layer)``: the node's outputs and the mask they carry."""


def call_module(module: nn.Module, inputs: list[torch.Tensor], mask: torch.Tensor | None, layer: Layer) -> Outputs:
    """The usual call: ``module(*inputs)``; the mask passes on where the layer keeps it."""
    out = module(*inputs)
    return (tuple(out) if isinstance(out, (tuple, list)) else (out,)), (mask if layer.keeps_mask() else None)


def no_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    return []


def never(layer: Layer, shapes: NodeShapes, index: int) -> bool:
    return False


def always(layer: Layer, shapes: NodeShapes, index: int) -> bool:
    return True


@dataclass(frozen=True)
class TorchKind:
    """What torch does for one layer kind.

    - ``build(layer, node, data_format)``: the module for one layer, given its first call's plan (shapes and layouts).
    - ``layout``: the :data:`~torch_impl.layout.LayoutRule` (which layouts it takes and makes).
    - ``wants_channels_first(layer, shapes, i)``: its input ``i`` is best stored channels first (convolutions and
      pooling: :func:`always`), so a model input it reads is read so.
    - ``weights``: its tensors on both sides (:data:`WeightsFn`); none by default.
    - ``call``: how the graph calls the module (:data:`CallFn`); ``module(*inputs)`` by default.
    """

    build: Callable[[Layer, NodePlan, str], nn.Module]
    layout: LayoutRule = same_layout_rule
    wants_channels_first: Callable[[Layer, NodeShapes, int], bool] = never
    weights: WeightsFn = no_weights
    call: CallFn = call_module


TORCH_KINDS: dict[str, TorchKind] = {}


def register(kind: str, entry: TorchKind) -> None:
    if kind in TORCH_KINDS:
        raise ValueError(f"torch kind {kind!r} is registered twice")
    TORCH_KINDS[kind] = entry


def torch_kind(layer: Layer) -> TorchKind:
    try:
        return TORCH_KINDS[layer.kind]
    except KeyError:
        raise NotImplementedError(f"{layer.label}: no torch module for layer kind {layer.kind!r}") from None


def single_weights(
    layer: Layer, path: str, prefix: str, keras_shapes: Shapes, torch_shapes: Shapes, to_torch: Converter,
    to_keras: Converter,
) -> list[LayerWeights]:  # fmt: skip
    """The one-entry weights list of a layer that holds its own tensors."""
    return [LayerWeights(path, layer, prefix, keras_shapes, torch_shapes, to_torch, to_keras)]


def add_bias(use_bias: bool, keras_shapes: Shapes, torch_shapes: Shapes, size: int) -> None:
    if use_bias:
        keras_shapes["bias"] = (size,)
        torch_shapes["bias"] = (size,)
