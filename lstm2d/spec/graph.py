"""The model description as a graph, with Keras Functional semantics.

A :class:`ModelSpec` is named inputs, nodes (a layer applied to named tensors) and named outputs. A stack
is as short to write as a Keras ``Sequential``::

    ModelSpec(InputSpec.frames(100, 10, 10), (Conv2D(32, 3, activation="relu"), Pool2D("max", 2), Flatten(), LSTM(64), Dense(1)))

and a graph reads like a Keras Functional model::

    ModelSpec(
        inputs=(InputSpec.frames(None, 10, 10, name="frames"), InputSpec.sequence(None, 3, name="side")),
        nodes=(
            Node(Conv2D(8, 3, activation="relu", name="conv"), ("frames",)),
            Node(Flatten(name="flat"), ("conv",)),
            Node(Concatenate(name="joined"), ("flat", "side")),
            Node(LSTM(16, name="lstm"), ("joined",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
        outputs=("out",),
    )

A tensor is named by the input or layer that makes it: ``"conv"`` is the output of layer ``conv``; a layer
called more than once (shared weights) makes ``"conv@1"`` on its second call; a layer with several outputs
makes ``"bi[0]"`` and ``"bi[1]"`` (``"conv@1[0]"`` combines both). Nodes come in an order where every tensor is
made before it is used, as in Keras' configs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, keras_config
from lstm2d.spec.layers.core import DATA_FORMATS, DataFormat, Flatten
from lstm2d.spec.shapes import Shape, SpecError, describe_shape, dims_text

MAX_NODE_INPUTS = 64
"""Most tensors one call may take: merges in real models join a handful; a file asking for thousands is refused."""
MAX_DEPTH = 8
"""Deepest nesting of models in models (a backbone in a TimeDistributed in a model is depth 2)."""
MAX_NODES = 10_000
"""Most calls in one model (ResNet50 has about 180)."""
_REF = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:@(?P<call>[0-9]{1,6}))?(?:\[(?P<index>[0-9]{1,6})\])?$")


def tensor_ref(name: str, call: int = 0, index: int = 0, *, outputs: int = 1) -> str:
    """The name of output ``index`` of call ``call`` of ``name`` (``outputs``: how many the call makes)."""
    return name + (f"@{call}" if call else "") + (f"[{index}]" if outputs > 1 else "")


def parse_ref(ref: Any, where: str) -> tuple[str, int, int | None]:
    """``(name, call, index)`` of a tensor name (``index`` None when not given)."""
    match = _REF.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise SpecError(f"{where}: {ref!r} is not a tensor name (expected 'layer', 'layer@call' or 'layer[output]')")
    index = match.group("index")
    return match.group("name"), int(match.group("call") or 0), None if index is None else int(index)


# -- inputs and nodes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """One model input: its per-sample shape in Keras order (channels last), a name, and a dtype.

    ``dtype="bool"`` is a mask input ``(time,)``, passed to recurrent layers as ``mask=`` (True: a real step).
    The named constructors say which kind of input it is: :meth:`frames`, :meth:`sequence`, :meth:`grid`,
    :meth:`vector`, :meth:`mask`; a first axis of ``None`` is any number of timesteps.
    """

    shape: tuple[int | None, ...]
    name: str = "frames"
    dtype: Literal["float32", "bool"] = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", Shape(tuple(self.shape)).dims)  # checks the sizes
        checks.identifier(self.name, "input name")
        if not self.name:
            raise SpecError("input name: expected a name, got ''")
        checks.choice(self.dtype, ("float32", "bool"), f"input {self.name} dtype")
        if self.dtype == "bool" and len(self.shape) != 1:
            raise SpecError(f"input {self.name}: a mask input is (time,), got {dims_text(self.per_sample)}")

    @classmethod
    def frames(cls, timesteps: int | None, height: int, width: int, channels: int = 1, *, name: str = "frames") -> InputSpec:
        """``timesteps`` frames of ``height x width x channels`` (a channels_first model reads them channels first)."""
        return cls._checked(name, timesteps=timesteps, height=height, width=width, channels=channels)

    @classmethod
    def sequence(cls, timesteps: int | None, features: int, *, name: str = "sequence") -> InputSpec:
        """A sequence of feature vectors ``(time, features)`` (a weather or sensor series, a 10x10 grid flattened)."""
        return cls._checked(name, timesteps=timesteps, features=features)

    @classmethod
    def grid(cls, height: int, width: int, channels: int = 1, *, name: str = "grid") -> InputSpec:
        """One grid ``(height, width, channels)``."""
        return cls._checked(name, height=height, width=width, channels=channels)

    @classmethod
    def vector(cls, features: int, *, name: str = "vector") -> InputSpec:
        """One feature vector ``(features,)``."""
        return cls._checked(name, features=features)

    @classmethod
    def mask(cls, timesteps: int | None, *, name: str = "mask") -> InputSpec:
        """A boolean mask ``(time,)`` for a recurrent layer's ``mask=`` (True: a real step)."""
        return cls._checked(name, timesteps=timesteps, dtype="bool")

    @classmethod
    def _checked(cls, name: str, *, dtype: Literal["float32", "bool"] = "float32", **axes: int | None) -> InputSpec:
        """An input of the named axes, each checked by name (``input timesteps: expected a positive int, got 0``)."""
        for axis, size in axes.items():
            if not (axis == "timesteps" and size is None):
                checks.positive(size, f"input {axis}")
        return cls(tuple(axes.values()), name, dtype)

    @property
    def per_sample(self) -> Shape:
        return Shape(self.shape)

    # Views of a frames input, the kind lstm2d's training data sources make.
    @property
    def timesteps(self) -> int | None:
        return self.per_sample.time

    @property
    def height(self) -> int:
        return self.per_sample.height

    @property
    def width(self) -> int:
        return self.per_sample.width

    @property
    def channels(self) -> int:
        return self.per_sample.channels


@dataclass(frozen=True)
class Node:
    """One call of a layer: on the tensors named in ``inputs`` (see the module docstring), with an optional
    boolean input as ``mask``. Two nodes with the same layer name share that layer's weights."""

    layer: Layer
    inputs: tuple[str, ...]
    mask: str | None = None

    def __post_init__(self) -> None:
        inputs = (self.inputs,) if isinstance(self.inputs, str) else tuple(self.inputs)
        object.__setattr__(self, "inputs", inputs)
        if not isinstance(self.layer, Layer):
            raise SpecError(f"node: expected an lstm2d.spec layer, got {self.layer!r}")
        if len(inputs) > MAX_NODE_INPUTS:
            raise SpecError(f"{self.layer.label}: called on {len(inputs)} tensors; lstm2d takes at most {MAX_NODE_INPUTS}")


@dataclass(frozen=True)
class NodeShapes:
    """One node with the per-sample shapes it receives and returns, the names of its outputs, and which of its
    inputs carry a mask."""

    node: Node
    call: int
    inputs: tuple[Shape, ...]
    outputs: tuple[Shape, ...]
    output_refs: tuple[str, ...]
    masked: bool

    @property
    def layer(self) -> Layer:
        return self.node.layer

    @property
    def input(self) -> Shape:
        return self.inputs[0]

    @property
    def output(self) -> Shape:
        return self.outputs[0]

    def step(self, layer: Layer) -> NodeShapes:
        """This call as ``layer`` (a TimeDistributed's wrapped layer) sees one step of it: every shape without its time
        axis."""
        return NodeShapes(
            replace(self.node, layer=layer), self.call, tuple(s.item for s in self.inputs),
            tuple(s.item for s in self.outputs), self.output_refs, self.masked,
        )  # fmt: skip


LayerShapes = NodeShapes
"""A stack's view of :class:`NodeShapes`: one layer, ``input`` and ``output`` its first."""


@dataclass(frozen=True)
class Inference:
    """What the model makes of its inputs: every node's shapes, every tensor's shape and mask."""

    nodes: tuple[NodeShapes, ...]
    shapes: dict[str, Shape]
    masks: dict[str, str | None]
    """For each tensor, the boolean input or Masking layer its mask comes from (None: unmasked)."""


# -- the model ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class ModelSpec:
    """A whole model: named inputs, nodes, named outputs; a stack is ``ModelSpec(input, layers)``.

    Layer names left empty are filled in as ``<kind>_<n>`` (``conv2d_1``, ``pool2d_1``, ``lstm_1``, counted per
    kind from 1); names are unique across inputs and layers. Validation walks the nodes in order and names the
    first that cannot take its inputs, an input no node uses, a tensor used before it is made, and a layer that
    leads to no output.

    ``data_format`` is the Keras model's frame layout: ``channels_last`` (Keras' default), frames
    ``(batch, time, height, width, channels)``, or ``channels_first``, ``(batch, time, channels, height, width)``
    with every spatial layer ``data_format="channels_first"`` and BatchNormalization on the channel axis. Shapes
    here stay (height, width, channels); on the torch side only the flatten permutation (see :meth:`flatten_order`)
    and the axis of a softmax on frames follow it.
    """

    inputs: tuple[InputSpec, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    name: str = "lstm2d"
    data_format: DataFormat = "channels_last"

    def __init__(
        self,
        input: InputSpec | None = None,
        layers: Iterable[Layer] | None = None,
        *,
        inputs: Iterable[InputSpec] | None = None,
        nodes: Iterable[Node] | None = None,
        outputs: Iterable[str] | None = None,
        name: str = "lstm2d",
        data_format: DataFormat = "channels_last",
    ) -> None:
        stack = input is not None or layers is not None
        if stack == (inputs is not None or nodes is not None or outputs is not None):
            raise SpecError("model spec: give either input and layers (a stack) or inputs, nodes and outputs (a graph)")
        if stack:
            if not isinstance(input, InputSpec):
                raise SpecError(f"input: expected an InputSpec, got {input!r}")
            inputs, nodes, outputs = _stack(input, tuple(layers or ()))
        object.__setattr__(self, "inputs", tuple(inputs or ()))
        object.__setattr__(self, "nodes", tuple(nodes or ()))
        object.__setattr__(self, "outputs", tuple(outputs or ()))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "data_format", data_format)
        self._validate()

    # -- construction ---------------------------------------------------------------------------------------

    def _validate(self) -> None:
        if not isinstance(self.name, str):
            raise SpecError(f"model name: expected a string, got {self.name!r}")
        checks.choice(self.data_format, DATA_FORMATS, "model data_format")
        if not self.inputs or not all(isinstance(i, InputSpec) for i in self.inputs):
            raise SpecError(f"inputs: expected one or more InputSpec, got {self.inputs!r}")
        if not self.nodes:
            raise SpecError("layers: expected at least one layer, got none")
        if len(self.nodes) > MAX_NODES:
            raise SpecError(f"model: {len(self.nodes)} layer calls; lstm2d takes at most {MAX_NODES}")
        if not self.outputs:
            raise SpecError("outputs: expected at least one output, got none")
        object.__setattr__(self, "nodes", _named(self.nodes, {i.name for i in self.inputs}))
        _check_depth(self, 0)
        inference = self.infer()
        used = {ref for node in self.nodes for ref in (*node.inputs, *([node.mask] if node.mask else []))}
        for spec_input in self.inputs:
            if not any(parse_ref(ref, "")[0] == spec_input.name for ref in used) and spec_input.name not in self.outputs:
                raise SpecError(f"input {spec_input.name!r} is not used by any layer")
        _check_all_lead_to_outputs(self, inference)
        self._check_data_format()

    def _check_data_format(self) -> None:
        """The layers Keras cannot run consistently in this data format are refused, naming the layer."""
        for layer in self.all_layers():
            layer.check_data_format(self.data_format)
        for entry in self.infer().nodes:
            entry.layer.check_data_format(self.data_format, entry.inputs)
        if self.data_format == "channels_first" and not any(_shows_data_format(layer) for layer in self.all_layers()):
            raise SpecError(
                "model data_format='channels_first' needs a layer whose Keras form shows it (Conv2D, Pool2D, GlobalPool2D, "
                "ConvLSTM2D, or Flatten(data_format='channels_first')): without one, the Keras model is the channels_last "
                "model with input (height, width, channels) = (channels, height, width), and a file could not tell the two "
                "apart; describe it that way"
            )

    # -- shapes -------------------------------------------------------------------------------------------------

    def infer(self, input_shapes: Mapping[str, Shape] | None = None) -> Inference:
        """Every node's and tensor's shape (from the declared inputs, or ``input_shapes`` by input name) and mask."""
        shapes: dict[str, Shape] = {}
        masks: dict[str, str | None] = {}
        for spec_input in self.inputs:
            shapes[spec_input.name] = (input_shapes or {}).get(spec_input.name, spec_input.per_sample)
            masks[spec_input.name] = None
        booleans = {i.name for i in self.inputs if i.dtype == "bool"}
        calls: dict[str, int] = {}
        entries = []
        for node in self.nodes:
            layer = node.layer
            call = calls.get(layer.name, 0)
            calls[layer.name] = call + 1
            given = [resolve_ref(ref, shapes, layer.label) for ref in node.inputs]
            if any(ref in booleans for ref in node.inputs):
                raise SpecError(f"{layer.label}: a boolean input is a mask; pass it as mask=, not as an input")
            count = len(given)
            if count < layer.min_inputs or (layer.max_inputs is not None and count > layer.max_inputs):
                expected = f"{layer.min_inputs}" + ("" if layer.max_inputs == layer.min_inputs else " or more")
                if layer.max_inputs not in (None, layer.min_inputs):
                    expected = f"{layer.min_inputs} to {layer.max_inputs}"
                raise SpecError(f"{layer.label}: called on {count} tensors, expected {expected}")
            in_shapes = tuple(shapes[ref] for ref in given)
            outputs = layer.output_shapes(in_shapes)
            mask = self._node_mask(node, given, in_shapes, masks, booleans, shapes)
            refs = tuple(tensor_ref(layer.name, call, i, outputs=len(outputs)) for i in range(len(outputs)))
            for ref, shape in zip(refs, outputs, strict=True):
                shapes[ref] = shape
                masks[ref] = mask if layer.keeps_mask() else None
            entries.append(NodeShapes(node, call, in_shapes, outputs, refs, mask is not None))
        _check_shared_calls(entries)
        for ref in self.outputs:
            resolve_ref(ref, shapes, "outputs")
        return Inference(tuple(entries), shapes, masks)

    def _node_mask(
        self, node: Node, given: list[str], in_shapes: tuple[Shape, ...], masks: dict[str, str | None], booleans: set[str],
        shapes: dict[str, Shape],
    ) -> str | None:  # fmt: skip
        """The mask a node's layer sees (a Masking layer makes one), checked against what the layer does with it."""
        layer = node.layer
        if layer.kind == "masking":
            if masks[given[0]] is not None:
                raise SpecError(f"{layer.label}: the sequence is already masked by {masks[given[0]]}")
            return layer.name
        if node.mask is not None:
            if node.mask not in booleans:
                raise SpecError(f"{layer.label}: mask={node.mask!r} must name a boolean input (InputSpec.mask)")
            if not layer.takes_mask(in_shapes):
                raise SpecError(
                    f"{layer.label}: only recurrent layers, GlobalAveragePooling1D over time and Softmax of a vector of "
                    "steps take mask="
                )
            steps, mask_steps = shapes[given[0]].time, shapes[node.mask].time
            if steps is not None and mask_steps is not None and steps != mask_steps:
                raise SpecError(f"{layer.label}: mask {node.mask!r} has {mask_steps} steps, the input {steps}")
            return node.mask
        carried = {masks[ref] for ref in given} - {None}
        if not carried:
            return None
        source = carried.pop()
        if carried or any(masks[ref] is None for ref in given):
            raise SpecError(f"{layer.label}: its inputs carry different masks; lstm2d merges tensors that share one mask")
        if layer.takes_mask(in_shapes) or layer.mask_flows(in_shapes):
            return source
        if layer.drops_mask:
            return None  # as Keras: the layer runs on every step, its output unmasked
        raise SpecError(
            f"{layer.label} after the mask of {source}: only Dropout, Activation, Dense, merges and recurrent layers may "
            "sit between a mask and the recurrent layer that uses it (of the merges: Concatenate on the last axis, and "
            "the element-wise ones but Maximum and Minimum)"
        )

    def node_shapes(self) -> list[NodeShapes]:
        """Every node with its input and output shapes per sample, in model order."""
        return list(self.infer().nodes)

    def layer_shapes(self) -> list[NodeShapes]:
        """Every layer's first call (for a stack: every layer, in order)."""
        return [entry for entry in self.infer().nodes if entry.call == 0]

    def tensor_shapes(self) -> dict[str, Shape]:
        return self.infer().shapes

    def output_shapes(self) -> list[Shape]:
        shapes = self.infer().shapes
        return [shapes[resolve_ref(ref, shapes, "outputs")] for ref in self.outputs]

    def output_shape(self) -> tuple[int | None, ...]:
        """Shape of the (first) model output for one sample in the spec's (height, width, channels) terms (``None`` for
        a free time axis); the Keras model's own is :meth:`keras_output_shape`."""
        return self.output_shapes()[0].dims

    def keras_output_shape(self) -> tuple[int | None, ...]:
        """Shape of the (first) Keras model output for one sample, in its ``data_format``."""
        return keras_dims(self.output_shapes()[0], self.data_format)

    def keras_output_shapes(self) -> list[tuple[int | None, ...]]:
        return [keras_dims(shape, self.data_format) for shape in self.output_shapes()]

    @property
    def input(self) -> InputSpec:
        """The model's one input (an error for a model with several)."""
        if len(self.inputs) != 1:
            raise SpecError(f"model {self.name!r} has {len(self.inputs)} inputs ({', '.join(self.input_names)}), not one")
        return self.inputs[0]

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def keras_input_shape(self) -> tuple[int | None, ...]:
        """Shape of the Keras model's (one) input for one sample, in its ``data_format``."""
        return keras_dims(self.input.per_sample, self.data_format)

    def keras_input_shapes(self) -> dict[str, tuple[int | None, ...]]:
        """Every input's Keras shape per sample (frames channels first in a channels_first model), by name."""
        return {i.name: keras_dims(i.per_sample, self.data_format) if i.dtype != "bool" else i.shape for i in self.inputs}

    def flatten_order(self, layer: Flatten) -> Literal["hwc", "chw"]:
        """The order the Keras model flattens a frame (or grid) in at ``layer`` (see :meth:`Flatten.keras_order`)."""
        return layer.keras_order(self.data_format)

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Every layer once, in the order of its first call."""
        seen: dict[str, Layer] = {}
        for node in self.nodes:
            seen.setdefault(node.layer.name, node.layer)
        return tuple(seen.values())

    def all_layers(self) -> list[Layer]:
        """Every layer at every depth: wrapped layers and the layers of nested models too."""
        out: list[Layer] = []
        stack = list(reversed(self.layers))
        while stack:
            layer = stack.pop()
            out.append(layer)
            stack.extend(reversed(layer.sublayers()))
        return out

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers: {[layer.name for layer in self.layers]}")

    @property
    def is_stack(self) -> bool:
        """One input, and every layer called once on the previous layer's output (a Keras Sequential)."""
        refs = [self.inputs[0].name] if len(self.inputs) == 1 else []
        for node in self.nodes:
            if list(node.inputs) != refs[-1:] or node.mask is not None:
                return False
            refs.append(node.layer.name)
        return len({node.layer.name for node in self.nodes}) == len(self.nodes)

    def with_timesteps(self, timesteps: int | None) -> ModelSpec:
        """A copy whose sequence inputs (every input with more than one axis, and masks) have ``timesteps`` steps."""
        inputs = tuple(
            replace(i, shape=(timesteps, *i.shape[1:])) if len(i.shape) > 1 or i.dtype == "bool" else i for i in self.inputs
        )
        return replace(self, inputs=inputs)

    def with_input(self, **changes: Any) -> ModelSpec:
        """A copy of a one-input model with its input changed: a frames input's ``timesteps``, ``height``, ``width`` or
        ``channels``, or any :class:`InputSpec` field."""
        spec_input = self.input
        frame_axes = ("timesteps", "height", "width", "channels")
        if set(changes) <= set(frame_axes) and len(spec_input.shape) == 4:
            current = dict(zip(frame_axes, spec_input.shape, strict=True))
            return replace(self, inputs=(InputSpec.frames(**{**current, **changes}, name=spec_input.name),))
        return replace(self, inputs=(replace(spec_input, **changes),))

    # -- serialisation --------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        from lstm2d.spec.serialize import spec_to_dict

        return spec_to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        from lstm2d.spec.serialize import spec_from_dict

        return spec_from_dict(data)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        from lstm2d.spec.serialize import spec_from_json

        return spec_from_json(text)


def keras_dims(shape: Shape, data_format: str) -> tuple[int | None, ...]:
    """``shape``'s dims in the Keras model's layout: for ``channels_first``, frames ``(time, channels, height, width)``
    and a grid ``(channels, height, width)``; otherwise (and for sequences and vectors) ``shape.dims``."""
    if data_format == "channels_first" and shape.rank in (3, 4):
        *outer, height, width, channels = shape.dims
        return (*outer, channels, height, width)
    return shape.dims


def _stack(input: InputSpec, layers: tuple[Layer, ...]) -> tuple[tuple[InputSpec, ...], tuple[Node, ...], tuple[str, ...]]:
    """A stack as a graph: each layer called on the previous one's output; the last one's outputs are the model's."""
    for layer in layers:
        if not isinstance(layer, Layer):
            raise SpecError(f"layers: expected lstm2d.spec layers, got {layer!r}")
    named = _named(tuple(Node(layer, ()) for layer in layers), {input.name})
    seen: set[str] = set()
    nodes, previous = [], input.name
    for i, node in enumerate(named):
        layer = node.layer
        if layer.name in seen:
            raise SpecError(f"layer name {layer.name!r} is used twice; names must be unique")
        seen.add(layer.name)
        if i < len(named) - 1 and getattr(layer, "merge_mode", "concat") is None:
            raise SpecError(f"{layer.label}: merge_mode=None gives two outputs, so it must be the last layer")
        nodes.append(Node(layer, (previous,)))
        previous = layer.name
    outputs: tuple[str, ...] = (previous,)
    if nodes and getattr(nodes[-1].layer, "merge_mode", "concat") is None:  # Bidirectional(merge_mode=None): two outputs
        outputs = (f"{previous}[0]", f"{previous}[1]")
    return (input,), tuple(nodes), outputs


def _named(nodes: tuple[Node, ...], taken_names: set[str]) -> tuple[Node, ...]:
    """Nodes whose unnamed layers got ``<kind>_<n>`` names; the same unnamed layer object in two nodes gets one name
    (a shared layer). Two different layers with one name are refused, as is a layer named like an input."""
    counters: dict[str, int] = {}
    taken = set(taken_names) | {node.layer.name for node in nodes if node.layer.name}
    assigned: dict[int, Layer] = {}
    by_name: dict[str, Layer] = {}
    out = []
    for node in nodes:
        layer = node.layer
        if not layer.name:
            if id(layer) not in assigned:
                while True:
                    counters[layer.kind] = counters.get(layer.kind, 0) + 1
                    candidate = f"{layer.kind}_{counters[layer.kind]}"
                    if candidate not in taken:
                        taken.add(candidate)
                        assigned[id(layer)] = replace(layer, name=candidate)
                        break
            layer = assigned[id(layer)]
        elif layer.name in taken_names:
            raise SpecError(f"layer name {layer.name!r} is also an input's name; names must be unique")
        if by_name.setdefault(layer.name, layer) != layer:
            raise SpecError(f"layer name {layer.name!r} is used twice; names must be unique (a shared layer is one layer)")
        out.append(replace(node, layer=layer))
    return tuple(out)


def resolve_ref(ref: str, shapes: Mapping[str, Shape], where: str) -> str:
    """``ref`` as a key of ``shapes``, or a SpecError naming it. ``"lstm[0]"`` of a one-output layer is ``"lstm"``; a
    layer with several outputs must be given an index."""
    name, call, index = parse_ref(ref, where)
    single, first = tensor_ref(name, call), tensor_ref(name, call, 0, outputs=2)
    if index is None:
        if single in shapes:
            return single
        if first in shapes:
            raise SpecError(f"{where}: {ref!r} has several outputs; name one, e.g. {first!r}")
    else:
        indexed = tensor_ref(name, call, index, outputs=2)
        if indexed in shapes:
            return indexed
        if index == 0 and single in shapes:
            return single
    raise SpecError(f"{where}: tensor {ref!r} is not made by any input or earlier layer")


def _check_shared_calls(entries: Sequence[NodeShapes]) -> None:
    """Every call of a shared layer gets inputs of the shape its weights were made for (the time axis may differ)."""
    first: dict[str, NodeShapes] = {}
    for entry in entries:
        base = first.setdefault(entry.layer.name, entry)
        if [s.dims[1:] if s.rank > 1 else s.dims for s in entry.inputs] != [
            s.dims[1:] if s.rank > 1 else s.dims for s in base.inputs
        ]:
            raise SpecError(
                f"{entry.layer.label}: call {entry.call} gets {', '.join(describe_shape(s) for s in entry.inputs)}, but its "
                f"weights are for {', '.join(describe_shape(s) for s in base.inputs)} (its first call)"
            )


def _check_all_lead_to_outputs(spec: ModelSpec, inference: Inference) -> None:
    """Every node must contribute to an output (Keras drops the others; a file that has them is malformed)."""
    needed = {resolve_ref(ref, inference.shapes, "outputs") for ref in spec.outputs}
    for entry in reversed(inference.nodes):
        if not needed & set(entry.output_refs):
            raise SpecError(f"{entry.layer.label} (call {entry.call}) leads to no model output")
        for ref in entry.node.inputs:
            needed.add(resolve_ref(ref, inference.shapes, entry.layer.label))
        if entry.node.mask:
            needed.add(entry.node.mask)


def _check_depth(spec: ModelSpec, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise SpecError(f"model {spec.name!r}: models nested more than {MAX_DEPTH} deep")
    for layer in spec.all_layers():
        if isinstance(layer, Submodel):
            _check_depth(layer.spec, depth + 1)


def _shows_data_format(layer: Layer) -> bool:
    """Whether the Keras form of ``layer`` says the model's frames are channels_first."""
    return (layer.spatial and layer.kind != "conv3d") or (isinstance(layer, Flatten) and layer.data_format == "channels_first")


# -- layers made of models --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submodel(Layer):
    """A model used as a layer (a Keras ``Sequential`` or Functional model inside a model, such as a backbone CNN
    under ``TimeDistributed``): its inputs are the call's inputs, its outputs the call's outputs. Its layers keep
    their own names, inside this layer's."""

    kind: ClassVar[str] = "model"
    keras_classes: ClassVar[tuple[str, ...]] = ("Sequential", "Functional", "Model")
    max_inputs: ClassVar[int | None] = None
    spec: ModelSpec
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.spec, Mapping):  # from JSON
            object.__setattr__(self, "spec", ModelSpec.from_dict(self.spec))
        if not isinstance(self.spec, ModelSpec):
            raise SpecError(f"{self.label} spec: expected a ModelSpec, got {self.spec!r}")
        checks.identifier(self.name)

    def sublayers(self) -> tuple[Layer, ...]:
        return self.spec.layers

    def output_shapes(self, inputs: tuple[Shape, ...]) -> tuple[Shape, ...]:
        if len(inputs) != len(self.spec.inputs):
            raise SpecError(f"{self.label}: called on {len(inputs)} tensors, its model has {len(self.spec.inputs)} inputs")
        given = {}
        for declared, shape in zip(self.spec.inputs, inputs, strict=True):
            if declared.per_sample.dims[1:] != shape.dims[1:] or declared.shape[0] not in (None, shape.dims[0]):
                raise SpecError(
                    f"{self.label}: input {declared.name!r} is {describe_shape(declared.per_sample)}, "
                    f"given {describe_shape(shape)}"
                )
            given[declared.name] = shape
        shapes = self.spec.infer(given).shapes
        return tuple(shapes[resolve_ref(ref, shapes, self.label)] for ref in self.spec.outputs)

    def describe(self) -> str:
        return f"Model {self.spec.name!r} ({len(self.spec.layers)} layers)"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        from lstm2d.spec.keras_graph import model_config

        return model_config(self.spec, name=context.name)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer | None:
        context.problem("a nested model is read by the model reader, not as a single layer")  # pragma: no cover
        return None


@dataclass(frozen=True)
class TimeDistributed(Layer):
    """Keras ``TimeDistributed(layer)``: ``layer`` on every step of a sequence, e.g. a backbone CNN on every frame, or
    a Flatten of each ``(height, width)`` step of frames without a channel axis. (A 2D layer given frames runs on
    every frame without it; this wrapper is for what that rule does not cover.)"""

    kind: ClassVar[str] = "time_distributed"
    keras_classes: ClassVar[tuple[str, ...]] = ("TimeDistributed",)
    layer: Layer
    name: str = ""

    def __post_init__(self) -> None:
        from lstm2d.spec.serialize import layer_from_dict

        if isinstance(self.layer, Mapping):  # from JSON
            object.__setattr__(self, "layer", layer_from_dict(self.layer, f"{self.label} layer"))
        if not isinstance(self.layer, Layer) or (self.layer.max_inputs != 1 and not isinstance(self.layer, Submodel)):
            raise SpecError(f"{self.label} layer: expected a layer of one input, got {self.layer!r}")
        if isinstance(self.layer, Submodel) and len(self.layer.spec.inputs) != 1:
            raise SpecError(f"{self.label}: the wrapped model must have one input, it has {len(self.layer.spec.inputs)}")
        checks.identifier(self.name)

    def sublayers(self) -> tuple[Layer, ...]:
        return (self.layer,)

    def output_shapes(self, inputs: tuple[Shape, ...]) -> tuple[Shape, ...]:
        shape = inputs[0]
        if shape.rank < 2:
            raise self.refuse(shape, "a sequence (a time axis, then at least one more)")
        return tuple(Shape((shape.time, *out.dims)) for out in self.layer.output_shapes((shape.item,)))

    def describe(self) -> str:
        return f"TimeDistributed({self.layer.describe()})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        inner_name = self.layer.name if isinstance(self.layer, Submodel) and self.layer.name else f"{context.name}_inner"
        inner = context.encode(self.layer, inner_name, context.shape.item)
        return keras_config("TimeDistributed", name=context.name, layer=inner)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer | None:
        context.problem("TimeDistributed is read by the model reader")  # pragma: no cover
        return None


__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_NODE_INPUTS",
    "Inference",
    "InputSpec",
    "LayerShapes",
    "ModelSpec",
    "Node",
    "NodeShapes",
    "Submodel",
    "TimeDistributed",
    "keras_dims",
    "parse_ref",
    "tensor_ref",
]
