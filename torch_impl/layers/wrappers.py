"""Layers made of other layers: Keras ``TimeDistributed(layer)`` and a model used as a layer (a nested Sequential or
Functional model, such as a backbone CNN run on every frame)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from lstm2d.spec import Layer, NodeShapes, Submodel, TimeDistributed
from torch_impl.kinds import LayerWeights, Outputs, TorchKind, call_module, register, torch_kind
from torch_impl.layers.norm import KerasBatchNorm
from torch_impl.layout import NodeLayouts, NodePlan, Plan, TensorLayout


class TimeDistributedModule(nn.Module):
    """``layer`` on every step: ``(B, T, ...)`` -> ``(B*T, ...)`` -> layer -> ``(B, T, ...)``; each output likewise.

    Folding and unfolding are views where the memory allows, so the whole batch of steps is one call. In training, a
    layer that holds a BatchNormalization (a backbone model with one) runs once per step instead, as Keras'
    ``TimeDistributed`` runs it: each step normalised with its own batch statistics, the moving averages updated
    once per step in time order (folded, the statistics would be over batch and time together). At inference the
    two agree, and the layer runs folded.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        batch, time = x.shape[:2]
        if self.training and self.takes_batch_statistics():
            steps = [self.layer(x[:, t]) for t in range(time)]  # each (B, ...), or a tuple of them
            if isinstance(steps[0], tuple):
                return tuple(torch.stack(outputs, dim=1) for outputs in zip(*steps, strict=True))
            return torch.stack(steps, dim=1)
        out = self.layer(x.flatten(0, 1))
        if isinstance(out, tuple):
            return tuple(o.unflatten(0, (batch, time)) for o in out)
        return out.unflatten(0, (batch, time))

    def takes_batch_statistics(self) -> bool:
        """Whether the wrapped layer normalises with batch statistics in training (holds a ``KerasBatchNorm``, now)."""
        return any(isinstance(module, KerasBatchNorm) for module in self.layer.modules())


def step_node(node: NodePlan, layer: Layer) -> NodePlan:
    """``node`` as the wrapped ``layer`` sees one step of it: each shape without its time axis, the same layouts
    (channels at dim -3 of a frame as of a sequence of frames; a feature order is per step)."""
    return replace(node, shapes=node.shapes.step(layer))


def _inner(layer: Layer) -> Layer:
    assert isinstance(layer, TimeDistributed)
    return layer.layer


def _td_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """What the wrapped layer takes and makes on one step, for the whole sequence."""
    inner = _inner(layer)
    step = step_node(NodePlan(shapes, given, NodeLayouts(given, ()), ()), inner).shapes
    return torch_kind(inner).layout(inner, step, given, data_format)


def _build_td(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    inner = _inner(layer)
    return TimeDistributedModule(torch_kind(inner).build(inner, step_node(node, inner), data_format))


def _td_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """The wrapped layer's weights, under the wrapper's name (Keras keeps them in the wrapper) and module (``.layer``)."""
    inner = _inner(layer)
    return torch_kind(inner).weights(inner, step_node(node, inner), path, prefix + "layer.")


def _wants_channels_first_td(layer: Layer, shapes: NodeShapes, i: int) -> bool:
    inner = _inner(layer)
    step = step_node(NodePlan(shapes, (), NodeLayouts((), ()), ()), inner).shapes
    return torch_kind(inner).wants_channels_first(inner, step, i)


def _call_td(module: nn.Module, inputs: list[torch.Tensor], mask: torch.Tensor | None, layer: Layer) -> Outputs:
    return call_module(module, inputs, None, layer)


# -- a model as a layer ---------------------------------------------------------------------------------------------


def _spec(layer: Layer) -> Submodel:
    assert isinstance(layer, Submodel)
    return layer


def _submodel_rule(layer: Layer, shapes: NodeShapes, given: tuple[TensorLayout, ...], data_format: str) -> NodeLayouts:
    """The nested model takes its inputs in the layouts its own layers want, and gives its outputs as they are."""
    plan = submodel_plan(_spec(layer))
    return NodeLayouts(tuple(plan.inputs[i.name] for i in _spec(layer).spec.inputs), tuple(plan.outputs(_spec(layer).spec)))


def submodel_plan(layer: Submodel) -> Plan:
    from torch_impl.model import plan_of  # the model module imports this one

    return plan_of(layer.spec)


def _build_submodel(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    from torch_impl.model import Lstm2dNet

    return Lstm2dNet(_spec(layer).spec, nested=True)


def _submodel_weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """Every nested layer's weights: Keras name ``<model>/<layer>``, torch keys ``<prefix>layers.<layer>.*``."""
    from torch_impl.weight_table import weight_table

    return weight_table(_spec(layer).spec, path=path + "/", prefix=prefix + "layers.")


def _wants_channels_first_submodel(layer: Layer, shapes: NodeShapes, i: int) -> bool:
    spec = _spec(layer).spec
    return submodel_plan(_spec(layer)).inputs[spec.inputs[i].name].channels_first


register(
    "time_distributed",
    TorchKind(_build_td, _td_rule, wants_channels_first=_wants_channels_first_td, weights=_td_weights, call=_call_td),
)
register(
    "model",
    TorchKind(_build_submodel, _submodel_rule, wants_channels_first=_wants_channels_first_submodel, weights=_submodel_weights),
)
