"""How the torch model stores each tensor of the graph, relative to the Keras model's layout.

Two differences are allowed, both chosen so the torch model runs torch's natural kernels with no permutes
in its hot path:

- ``channels_first``: a grid ``(H, W, C)`` stored ``(C, H, W)`` and frames ``(T, H, W, C)`` stored
  ``(T, C, H, W)`` (the channel axis at dim -3), what ``nn.Conv2d`` and pooling read. Spatial layers keep
  their tensors so; an input that feeds them is read so (``input_layout``).
- ``order``: the features on the last axis are a permutation of Keras' (``torch feature j`` is ``Keras
  feature order[j]``). A flatten of channels-first frames gives (C, H, W)-ordered features where Keras has
  (H, W, C); the permutation is absorbed by the next Dense or recurrent layer's weights at conversion
  (their input rows are permuted once) instead of permuting activations.

A :class:`Plan` says, for every node of a spec, the layout each input arrives in (the planner inserts a
conversion where a layer cannot take the layout its input has, e.g. a Reshape of channels-first frames)
and the layout of each output. The torch model runs it; the weight table reads the orders from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from lstm2d.spec import Layer, ModelSpec, NodeShapes, Shape, resolve_ref
from torch_impl.convert import layout as convert_layout

SPATIAL_CHANNEL_DIM = -3
"""The channel axis of channels-first frames ``(B, T, C, H, W)``, folded frames ``(B*T, C, H, W)`` and grids ``(B, C, H, W)``."""


@dataclass(frozen=True)
class FeatureOrder:
    """The features of a last axis as torch has them, a permutation of Keras' order, described by blocks laid end to end:
    ``(size,)`` is ``size`` features in Keras' order, ``(height, width, channels)`` a grid flattened channels first
    where Keras flattens it channels last. Only :meth:`indices` spells the permutation out (when weights are converted,
    or features re-ordered), so describing a model never allocates per-feature arrays."""

    blocks: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        return sum(math.prod(block) for block in self.blocks)

    @cached_property
    def indices(self) -> np.ndarray:
        """``p`` with ``torch_features == keras_features[p]``."""
        parts, offset = [], 0
        for block in self.blocks:
            if len(block) == 3:
                parts.append(offset + convert_layout.hwc_index_of_chw(*block))
            else:
                parts.append(offset + np.arange(block[0]))
            offset += math.prod(block)
        return np.concatenate(parts)

    def __add__(self, other: FeatureOrder) -> FeatureOrder:
        return FeatureOrder(self.blocks + other.blocks)


@dataclass(frozen=True)
class TensorLayout:
    """How torch stores one tensor: channels first (rank 3 or 4 per sample) and the order of its last axis."""

    channels_first: bool = False
    order: FeatureOrder | None = None

    def __post_init__(self) -> None:
        if self.channels_first and self.order is not None:
            raise ValueError("a channels-first tensor keeps its features in Keras' order")

    def describe(self) -> str:
        parts = ["channels first" if self.channels_first else "Keras layout"]
        if self.order is not None:
            parts.append("features permuted")
        return ", ".join(parts)


KERAS = TensorLayout()
CHANNELS_FIRST = TensorLayout(channels_first=True)


def convert(x: torch.Tensor, source: TensorLayout, target: TensorLayout) -> torch.Tensor:
    """``x`` stored as ``source`` re-stored as ``target`` (a movedim view, or one gather of the last axis)."""
    if source == target:
        return x
    if source.channels_first != target.channels_first:
        x = x.movedim(SPATIAL_CHANNEL_DIM, -1) if source.channels_first else x.movedim(-1, SPATIAL_CHANNEL_DIM)
    if source.order != target.order:
        x = x.index_select(-1, torch.as_tensor(_reorder(source.order, target.order, x.shape[-1]), device=x.device))
    return x


def _reorder(source: FeatureOrder | None, target: FeatureOrder | None, size: int) -> np.ndarray:
    """Indices ``i`` with ``x_target = x_source[..., i]``."""
    keras_to_source = np.argsort(source.indices) if source is not None else np.arange(size)
    wanted = target.indices if target is not None else np.arange(size)
    return keras_to_source[wanted]


def order_indices(order: FeatureOrder | None) -> np.ndarray | None:
    """The permutation an order stands for (``None``: Keras' own), for the weight converters."""
    return None if order is None else order.indices


def with_input_order(
    convert: Callable[..., dict[str, np.ndarray]], order: FeatureOrder | None
) -> Callable[..., dict[str, np.ndarray]]:
    """``convert`` called with ``input_order=`` the permutation of ``order``, spelled out only when it converts: a
    weight table describes a model without per-feature arrays, so a file's claim of 10^10 features is refused by the
    shape check against its weights before anything that size is allocated."""
    return lambda **arrays: convert(**arrays, input_order=order_indices(order))


def keras_last_dim(layout: TensorLayout, data_format: str) -> int:
    """The torch dim that is the last axis of the Keras tensor, where Keras' softmax reduces: the channels of
    channels-first frames and grids in a channels_last model, the last dim otherwise (a channels_first Keras model
    stores frames as torch does, so its last axis is the width)."""
    return SPATIAL_CHANNEL_DIM if layout.channels_first and data_format == "channels_last" else -1


def torch_dim(keras_axis: int, shape: Shape, layout: TensorLayout) -> int:
    """The torch dim (batch counted, negative) of per-sample Keras axis ``keras_axis`` (from 0) of a tensor of ``shape``."""
    rank = shape.rank
    position = keras_axis - rank  # negative, per sample
    if layout.channels_first:
        if position == -1:
            return SPATIAL_CHANNEL_DIM
        if position in (-3, -2):
            return position + 1
    return position


# -- the plan ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeLayouts:
    """What a layer accepts (the layout of each input as it reaches the layer) and makes (each output)."""

    inputs: tuple[TensorLayout, ...]
    outputs: tuple[TensorLayout, ...]


LayoutRule = Callable[[Layer, NodeShapes, tuple[TensorLayout, ...], str], NodeLayouts]
"""``rule(layer, shapes, given layouts, data_format)``: the layouts the layer takes and makes."""


@dataclass(frozen=True)
class NodePlan:
    """One node: its shapes, the layouts its inputs have (``given``) and need (``layouts.inputs``), its outputs', and
    the Keras model's ``data_format`` (where a Keras axis of frames is, for the kinds that take axes)."""

    shapes: NodeShapes
    given: tuple[TensorLayout, ...]
    layouts: NodeLayouts
    input_refs: tuple[str, ...]
    data_format: str = "channels_last"

    @property
    def conversions(self) -> list[int]:
        """The inputs re-stored before the layer gets them."""
        return [i for i, (g, n) in enumerate(zip(self.given, self.layouts.inputs, strict=True)) if g != n]


@dataclass(frozen=True)
class Plan:
    """Every node's plan, every tensor's layout, and the layout each model input is read in."""

    nodes: tuple[NodePlan, ...]
    tensors: dict[str, TensorLayout]
    inputs: dict[str, TensorLayout]
    data_format: str
    first_calls: dict[str, NodePlan] = field(default_factory=dict)

    def outputs(self, spec: ModelSpec) -> list[TensorLayout]:
        shapes = spec.tensor_shapes()
        return [self.tensors[resolve_ref(ref, shapes, "outputs")] for ref in spec.outputs]


def make_plan(
    spec: ModelSpec,
    rule_of: Callable[[Layer], LayoutRule],
    wants_channels_first: Callable[[Layer, NodeShapes, int], bool],
    *,
    input_layouts: dict[str, TensorLayout] | None = None,
) -> Plan:
    """The layouts of ``spec``'s torch model: ``rule_of(layer)`` gives each kind's :data:`LayoutRule`;
    ``wants_channels_first(layer, shapes, i)`` whether input ``i`` of that node is best read channels first.

    A model input is read channels first where every layer reading it takes it so, and it is frames (rank 4,
    always with channels) or a layer reading it wants it so (a grid for a Conv2D; a rank-3 tensor that only a
    Reshape or a TimeDistributed Flatten reads has no channel axis). A channels_first Keras model's frames and
    grids are channels first, as Keras has them. ``input_layouts`` fixes some inputs' layouts."""
    inference = spec.infer()
    tensors: dict[str, TensorLayout] = {}
    inputs: dict[str, TensorLayout] = {}
    for spec_input in spec.inputs:
        readers = [(entry, i) for entry in inference.nodes for i, ref in enumerate(entry.node.inputs) if ref == spec_input.name]
        rank = len(spec_input.shape)
        if spec_input.name in (input_layouts or {}):
            layout = (input_layouts or {})[spec_input.name]
        elif spec_input.dtype != "float32" or rank not in (3, 4):
            layout = KERAS
        elif spec.data_format == "channels_first":
            layout = CHANNELS_FIRST
        else:
            takes = all(_takes_channels_first(rule_of(entry.layer), entry, i, spec.data_format) for entry, i in readers)
            wanted = any(wants_channels_first(entry.layer, entry, i) for entry, i in readers)
            layout = CHANNELS_FIRST if takes and (rank == 4 or wanted) else KERAS
        tensors[spec_input.name] = inputs[spec_input.name] = layout
    nodes: list[NodePlan] = []
    first_calls: dict[str, NodePlan] = {}
    for entry in inference.nodes:
        refs = tuple(resolve_ref(ref, inference.shapes, entry.layer.label) for ref in entry.node.inputs)
        given = tuple(tensors[ref] for ref in refs)
        first = first_calls.get(entry.layer.name)
        layouts = rule_of(entry.layer)(entry.layer, entry, given, spec.data_format)
        if first is not None:  # a shared layer's weights were converted for its first call's layouts
            layouts = NodeLayouts(first.layouts.inputs, layouts.outputs)
        node = NodePlan(entry, given, layouts, refs, spec.data_format)
        for ref, layout in zip(entry.output_refs, layouts.outputs, strict=True):
            tensors[ref] = layout
        nodes.append(node)
        first_calls.setdefault(entry.layer.name, node)
    return Plan(tuple(nodes), tensors, inputs, spec.data_format, first_calls)


def _takes_channels_first(rule: LayoutRule, entry: NodeShapes, index: int, data_format: str) -> bool:
    """Whether a layer takes input ``index`` channels first as it is, with no conversion."""
    given = tuple(CHANNELS_FIRST if i == index else KERAS for i in range(len(entry.inputs)))
    return rule(entry.layer, entry, given, data_format).inputs[index] == CHANNELS_FIRST


# -- the rules -----------------------------------------------------------------------------------------------------


def spatial_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """Convolutions and pooling: grids and frames channels first in and out; a rank 1 or 2 output in Keras layout."""
    inputs = tuple(CHANNELS_FIRST if s.rank in (3, 4) else KERAS for s in shapes.inputs)
    return NodeLayouts(inputs, tuple(CHANNELS_FIRST if s.rank in (3, 4) else KERAS for s in shapes.outputs))


def same_layout_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """Element-wise and per-channel layers, and merges: every input in the first one's layout, the output in it too."""
    first = given[0]
    if any(g.order != first.order for g in given[1:]):  # differently permuted features: back to Keras' order
        first = TensorLayout(first.channels_first, None)
    return NodeLayouts((first,) * len(given), (first,) * len(shapes.outputs))


def keras_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """Layers that need Keras' layout exactly (a reshape, a transpose): in and out."""
    return NodeLayouts((KERAS,) * len(given), (KERAS,) * len(shapes.outputs))


def features_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """Dense and recurrent layers: features in any order (the converter permutes the weights' input rows), Keras out."""
    inputs = tuple(TensorLayout(False, g.order) if s.rank <= 2 else KERAS for g, s in zip(given, shapes.inputs, strict=True))
    return NodeLayouts(inputs, (KERAS,) * len(shapes.outputs))


def flatten_order(shape: Shape, layout: TensorLayout, keras_order: str) -> FeatureOrder | None:
    """The feature order a torch flatten of one frame or grid ``shape`` (its last three axes) stored as ``layout``
    gives, where Keras flattens in ``keras_order`` ("hwc", or "chw" for a channels_last Flatten in a channels_first
    model, which flattens as torch does)."""
    if not layout.channels_first or keras_order == "chw":
        return None
    grid = shape.grid
    return FeatureOrder(((grid.height, grid.width, grid.channels),))


def arrive(values: Sequence[torch.Tensor], node: NodePlan) -> list[torch.Tensor]:
    """Each input of ``node`` re-stored in the layout the layer takes (where it is not already)."""
    return [convert(v, g, n) for v, g, n in zip(values, node.given, node.layouts.inputs, strict=True)]
