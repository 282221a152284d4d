"""The torch model built from a :class:`~lstm2d.spec.ModelSpec`: a graph module that runs the modules in ``layers``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

import torch
from torch import nn

import torch_impl.layers  # noqa: F401 - registers every kind's torch entry
from lstm2d.spec import Conv2D, ModelSpec, NodeShapes, Pool2D, Shape, keras_dims, resolve_ref
from torch_impl.kinds import torch_kind
from torch_impl.layers.conv import FrameConv2d
from torch_impl.layers.conv_pool import ConvMaxPool, fusable
from torch_impl.layers.frames import time_major_storage
from torch_impl.layers.pooling import FramePool2d
from torch_impl.layers.recurrent import KerasRecurrent
from torch_impl.layout import SPATIAL_CHANNEL_DIM, Plan, TensorLayout, arrive, convert, make_plan

InputLayout = Literal["channels_first", "channels_last"]
INPUT_LAYOUTS: tuple[str, ...] = ("channels_first", "channels_last")
ModelOutput = torch.Tensor | tuple[torch.Tensor, ...]


@lru_cache(maxsize=256)
def plan_of(spec: ModelSpec) -> Plan:
    """How the torch model of ``spec`` stores every tensor (see :mod:`torch_impl.layout`); computed once per spec."""
    return make_plan(
        spec,
        lambda layer: torch_kind(layer).layout,
        lambda layer, shapes, i: torch_kind(layer).wants_channels_first(layer, shapes, i),
    )


class Lstm2dNet(nn.Module):
    """The spec's graph as native torch modules: ``layers`` holds one module per layer (named after it), and the
    forward pass calls them node by node, so a module put in its place (``model.layers["head"] = nn.Linear(64, 10)``)
    is the one that runs, and its hooks fire.

    Inputs: positional, in the spec's input order, or one dict by input name. Frames and grids that feed
    convolutions or pooling are read ``(batch, time, channels, height, width)`` / ``(batch, channels, height,
    width)`` with ``input_layout="channels_first"`` (torch's layout, and a channels_first Keras model's), or as
    Keras has them with ``"channels_last"`` (permuted once at the entry, and frame outputs permuted back at the
    exit); every other input is read as Keras has it: a sequence ``(batch, time, features)``, a vector ``(batch,
    features)``, a mask ``(batch, time)`` bool. Outputs: a tensor, or a tuple in the spec's output order.

    Inside, per-frame layers run once over all ``B*T`` frames; flattening is torch's natural (C, H, W) order, any
    difference from the Keras model's flatten order living in the converted weights of the next layer (see
    :mod:`torch_impl.layout`), not here. A Conv2D followed by a max pool that tiles its output runs as one fused op on
    the CPU (:meth:`fuse_conv_pool`; not where either module was replaced or has hooks). Where per-frame layers lead a
    stack to a recurrent layer, the input is stored time-major at the entry (shapes and values are unchanged).
    State-dict keys read ``layers.<name>.weight``, ``layers.<lstm name>.weight_ih_l0``, ``layers.<model>.layers.<name>.*``.
    """

    def __init__(self, spec: ModelSpec, *, input_layout: InputLayout = "channels_first", nested: bool = False) -> None:
        super().__init__()
        if input_layout not in INPUT_LAYOUTS:
            raise ValueError(f"input_layout: expected one of {INPUT_LAYOUTS}, got {input_layout!r}")
        self.spec = spec
        self.input_layout = input_layout
        self.nested = nested  # inside another model: inputs arrive and outputs leave in the plan's layouts, unchecked
        self.plan = plan_of(spec)
        self.layers = nn.ModuleDict(
            {name: torch_kind(node.shapes.layer).build(node.shapes.layer, node, spec.data_format)
             for name, node in self.plan.first_calls.items()}
        )  # fmt: skip
        shapes = spec.tensor_shapes()
        self.output_refs = [resolve_ref(ref, shapes, "outputs") for ref in spec.outputs]
        self.fusions = self._fusable_pairs()
        object.__setattr__(self, "_fused_modules", {c: (self.layers[c], self.layers[p]) for c, p in self.fusions.items()})
        self.fuse = True
        self.time_major_entry = not nested and self._feeds_recurrent_kernel()

    # -- construction -------------------------------------------------------------------------------------------

    def _fusable_pairs(self) -> dict[str, str]:
        """``{conv name: pool name}`` for each Conv2D whose output only a max pool reads, where the pair is one fused op."""
        readers: dict[str, list[NodeShapes]] = {}
        for node in self.plan.nodes:
            for ref in node.input_refs:
                readers.setdefault(ref, []).append(node.shapes)
        calls = [node.shapes.layer.name for node in self.plan.nodes]
        pairs = {}
        for node in self.plan.nodes:
            conv, out_ref = node.shapes.layer, node.shapes.output_refs[0]
            consumers = readers.get(out_ref, [])
            if not isinstance(conv, Conv2D) or len(consumers) != 1 or out_ref in self.output_refs:
                continue
            pool = consumers[0].layer
            if (
                isinstance(pool, Pool2D)
                and calls.count(conv.name) == calls.count(pool.name) == 1
                and node.layouts.inputs[0].channels_first
                and fusable(conv, pool, node.shapes.output.grid)
            ):
                pairs[conv.name] = pool.name
        return pairs

    def _feeds_recurrent_kernel(self) -> bool:
        """Whether the model should store its input time-major: a stack of per-frame layers with a Conv2D, then a
        recurrent layer.

        The frames then flow through the per-frame layers in ``T*B`` order (views, no copies) and reach
        the recurrent layer's fused kernel in the ``(T, B, F)`` memory it reads; batch-major memory costs
        a transposing copy of the kernel's (here larger) input forward and of its gradient backward, where
        time-major costs one copy of the model's input. Measured on one thread, seed-cnn: training
        +9% (batch 64) and +14% (batch 256), inference +4% and +19%. Without a Conv2D (seed-flat: Flatten
        then LSTM) the copy only moves, and the input stays as it is.
        """
        if not self.spec.is_stack:
            return False
        has_conv = False
        for node in self.plan.nodes:
            layer, shape = node.shapes.layer, node.shapes.input
            if isinstance(self.layers[layer.name], KerasRecurrent):
                return has_conv
            if not (layer.runs_per_frame(shape) or layer.step_invariant):
                return False
            has_conv = has_conv or isinstance(layer, Conv2D)
        return False

    def fuse_conv_pool(self, enabled: bool = True) -> None:
        """Run each fusable Conv2D -> MaxPool pair as one op on the CPU (the default; see
        :mod:`torch_impl.layers.conv_pool`), or, with ``enabled=False``, every layer's module in turn.
        Parameters and results are the same either way; only speed and memory differ."""
        self.fuse = enabled

    def active_fusions(self) -> dict[str, str]:
        """The conv -> pool pairs the next forward pass on the CPU fuses: the modules are still the ones built for the
        pair, and neither has hooks (a hook must see its module run)."""
        if not self.fuse:
            return {}
        global_hooks = nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks
        active = {}
        built: dict[str, tuple[nn.Module, nn.Module]] = self.__dict__["_fused_modules"]
        for conv_name, pool_name in self.fusions.items():
            conv, pool = self.layers[conv_name], self.layers[pool_name]
            if (conv, pool) != built[conv_name] or global_hooks:
                continue
            if not (conv._forward_hooks or conv._forward_pre_hooks or pool._forward_hooks or pool._forward_pre_hooks):
                active[conv_name] = pool_name
        return active

    # -- running ------------------------------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> ModelOutput:
        values = self._inputs(args, kwargs)
        masks: dict[str, torch.Tensor | None] = dict.fromkeys(values)
        fusions = self.active_fusions() if next(iter(values.values())).device.type == "cpu" else {}
        fused_into: dict[str, torch.Tensor] = {}
        for node in self.plan.nodes:
            layer = node.shapes.layer
            if layer.name in fused_into:  # the pool of a fused pair: computed with its conv
                values[node.shapes.output_refs[0]] = fused_into.pop(layer.name)
                masks[node.shapes.output_refs[0]] = None
                continue
            inputs = arrive([values[ref] for ref in node.input_refs], node)
            if layer.name in fusions:
                pool = fusions[layer.name]
                conv_module, pool_module = self.layers[layer.name], self.layers[pool]
                assert isinstance(conv_module, FrameConv2d) and isinstance(pool_module, FramePool2d)  # active_fusions checked
                fused_into[pool] = ConvMaxPool(conv_module, pool_module)(inputs[0])
                continue  # the conv's own output is read by nothing but the pool
            mask_ref = node.shapes.node.mask
            mask = values[mask_ref] if mask_ref else next((masks[r] for r in node.input_refs if masks[r] is not None), None)
            outputs, out_mask = torch_kind(layer).call(self.layers[layer.name], inputs, mask, layer)
            for ref, out in zip(node.shapes.output_refs, outputs, strict=True):
                values[ref] = out
                masks[ref] = out_mask
        results = [self._output(values[ref], self.plan.tensors[ref]) for ref in self.output_refs]
        return results[0] if len(results) == 1 else tuple(results)

    def _inputs(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The inputs by name, checked, in the layouts the plan reads them in."""
        names = self.spec.input_names
        if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
            given = dict(args[0])
        elif kwargs and not args:
            given = dict(kwargs)
        else:
            if len(args) != len(names):
                raise ValueError(
                    f"expected {len(names)} input{'s' if len(names) > 1 else ''} ({', '.join(names)}), got {len(args)}"
                )
            given = dict(zip(names, args, strict=True))
        if set(given) != set(names):
            raise ValueError(f"expected inputs {names}, got {sorted(given)}")
        values = {}
        for spec_input in self.spec.inputs:
            x = given[spec_input.name]
            layout = self.plan.inputs[spec_input.name]
            if not self.nested:
                self._check_input(spec_input.name, x)
                if layout.channels_first and self.input_layout == "channels_last":
                    x = x.movedim(-1, SPATIAL_CHANNEL_DIM)  # (..., H, W, C) -> (..., C, H, W)
                if self.time_major_entry:
                    x = time_major_storage(x)  # same values and shape; see _feeds_recurrent_kernel
            values[spec_input.name] = x
        return values

    def _output(self, out: torch.Tensor, layout: TensorLayout) -> torch.Tensor:
        """An output as the caller reads it: features in Keras' order, frames in ``input_layout``."""
        if self.nested:
            return out
        out = convert(out, layout, TensorLayout(layout.channels_first, None))  # features in Keras' order
        if layout.channels_first and self.input_layout == "channels_last":
            out = out.movedim(SPATIAL_CHANNEL_DIM, -1)  # channels back to the last axis
        return out

    @property
    def spatial_outputs(self) -> list[bool]:
        """For each output, whether it is frames or a grid that the model returns in ``input_layout`` (rather than as
        Keras has it, like every other output)."""
        return [self.plan.tensors[ref].channels_first for ref in self.output_refs]

    @property
    def spatial_inputs(self) -> list[bool]:
        """For each input, whether it is read in ``input_layout`` (frames and grids that feed spatial layers)."""
        return [self.plan.inputs[i.name].channels_first for i in self.spec.inputs]

    def flatten_parameters(self) -> None:
        """Compact every recurrent layer's weights into one buffer (cuDNN wants this after weights are loaded)."""
        for module in self.modules():
            if isinstance(module, nn.RNNBase):
                module.flatten_parameters()

    # -- input checks -------------------------------------------------------------------------------------------

    def expected_input_shapes(self) -> dict[str, tuple[int | None, ...]]:
        """Each input's expected shape, ``None`` for free axes (batch, and time where the spec leaves it open)."""
        return {i.name: (None, *self._layout_dims(i.name)) for i in self.spec.inputs}

    @property
    def expected_input_shape(self) -> tuple[int | None, ...]:
        """The one input's expected shape (see :meth:`expected_input_shapes`)."""
        return self.expected_input_shapes()[self.spec.input.name]

    def _layout_dims(self, name: str) -> tuple[int | None, ...]:
        spec_input = next(i for i in self.spec.inputs if i.name == name)
        dims = Shape(spec_input.shape).dims
        if self.plan.inputs[name].channels_first and self.input_layout == "channels_first":
            return keras_dims(Shape(dims), "channels_first")
        return dims

    def _check_input(self, name: str, x: Any) -> None:
        spec_input = next(i for i in self.spec.inputs if i.name == name)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input {name!r}: expected a torch.Tensor, got {type(x).__name__}")
        expected = (None, *self._layout_dims(name))
        shape = tuple(x.shape)
        fits = x.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, shape, strict=True))
        if fits and all(s > 0 for s in shape[:2]):
            if spec_input.dtype == "bool" and x.dtype != torch.bool:
                raise ValueError(f"input {name!r} is a mask: expected dtype torch.bool, got {x.dtype}")
            if spec_input.dtype != "bool" and not x.is_floating_point():
                named = f" {name!r}" if len(self.spec.inputs) > 1 else ""
                raise ValueError(f"expected a floating-point input{named}, got dtype {x.dtype}")
            return
        axes = _axes(len(expected) - 1, self.plan.inputs[name], self.input_layout, mask=spec_input.dtype == "bool")
        where = f"input {name!r} " if len(self.spec.inputs) > 1 else "input "
        raise ValueError(f"expected {where}{axes} = {_format_shape(expected)}, got {shape}" + _input_hint(self, name, shape))


def _axes(rank: int, layout: TensorLayout, input_layout: str, *, mask: bool = False) -> str:
    """What the axes of an input of per-sample ``rank`` are, as the model reads it (a mask's: batch and time)."""
    if mask:
        return "(batch, time)"
    channels_first = layout.channels_first and input_layout == "channels_first"
    if rank in (3, 4):
        frame = "channels, height, width" if channels_first else "height, width, channels"
        return f"(batch, time, {frame})" if rank == 4 else f"(batch, {frame})" if layout.channels_first else "(batch, ...)"
    return {2: "(batch, time, features)", 1: "(batch, features)"}.get(rank, "(batch, ...)")


def _format_shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def _input_hint(model: Lstm2dNet, name: str, shape: tuple[int, ...]) -> str:
    """A likely cause of a wrong input shape, where one is recognisable."""
    spec_input = next(i for i in model.spec.inputs if i.name == name)
    if len(spec_input.shape) != 4:
        return ""
    time, height, width, channels = spec_input.shape
    frame_first, frame_last = (channels, height, width), (height, width, channels)
    channels_first = model.plan.inputs[name].channels_first and model.input_layout == "channels_first"
    own, other = (frame_first, frame_last) if channels_first else (frame_last, frame_first)
    other_layout = "channels_last" if channels_first else "channels_first"
    if len(shape) == 5 and shape[2:] == other and own != other:
        return f"; the frames look {other_layout}: build the model with input_layout={other_layout!r}"
    if len(shape) == 4 and shape[1:] in (own, other):
        return (
            "; this is a batch of single frames, but the model reads sequences of frames. "
            "If the first axis is time (e.g. 100 timesteps passed as 100 samples), add a batch axis: "
            "x.unsqueeze(0); if every sample is one frame, add a time axis: x.unsqueeze(1)"
        )
    if len(shape) == 3 and shape[-1] == math.prod(d for d in (height, width, channels) if d is not None):
        return "; the frames look already flattened: pass them as grids, the model flattens them itself"
    if len(shape) == 5 and time is not None and shape[1] != time:
        return f"; the model was built for {time} timesteps (an input with timesteps None accepts any length)"
    return ""


__all__ = ["INPUT_LAYOUTS", "InputLayout", "Lstm2dNet", "ModelOutput", "plan_of"]
