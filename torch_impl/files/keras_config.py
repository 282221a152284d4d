"""A Keras model config (Keras 3 ``config.json`` or Keras 2 ``model_config``), read as data, into a ModelSpec.

Sequential and Functional models are read, nested models too (a model used as a layer, or inside
TimeDistributed), in Keras 3's node format (``inbound_nodes`` of ``{"args", "kwargs"}`` with
``keras_history``) and Keras 2's (lists of ``[layer, node, tensor, kwargs]``). The ``NotEqual`` / ``Any``
ops Keras 3 records for a ``Masking`` layer's mask are recognised as such. Each layer is reported
(:class:`FileLayer`) with the spec layer it becomes, or why it cannot; :func:`spec_from_config` refuses the
model if any layer is unsupported, naming all of them. A graph that is malformed or hostile (a cycle, a
reference to a missing layer or tensor, duplicate names, a call on thousands of tensors, models nested too
deep) is a :class:`ModelFileError` that says so. Nothing named in the config is imported or called.

The model's ``data_format`` (channels_last or channels_first frames) is what its spatial layers say; they
must all say the same (see :func:`model_data_format`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lstm2d.spec import (
    DATA_FORMATS,
    KERAS_CLASSES,
    MAX_DEPTH,
    MAX_NODE_INPUTS,
    DataFormat,
    DecodeContext,
    InputSpec,
    Layer,
    ModelSpec,
    Node,
    Shape,
    SpecError,
    Submodel,
    TimeDistributed,
    describe_shape,
    resolve_ref,
    tensor_ref,
)
from lstm2d.spec.base import data_format_of
from torch_impl.files.config_safety import is_op
from torch_impl.files.errors import ModelFileError, UnsupportedModelError

MODEL_CLASSES = ("Sequential", "Functional", "Model")
MASK_OPS = ("NotEqual", "Any")  # what Keras 3 records in a Functional graph to compute a Masking layer's mask
_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")
ARTICLE_HINT = (
    "outside TimeDistributed works on the whole (time, height, width, channels) sample, which Keras refuses "
    "('expected ndim=4, found ndim=5'); wrap per-frame layers in TimeDistributed"
)


def supported_summary() -> str:
    """The Keras classes lstm2d converts, for error messages."""
    return ", ".join(sorted(KERAS_CLASSES)) + " (channels_last, or channels_first without Conv3D; float32)"


@dataclass
class FileLayer:
    """One layer of the file's model, as lstm2d sees it."""

    name: str  # the layer's name in the file
    keras_class: str  # the (outer) Keras class: names its weights group in Keras 3 files
    display: str  # e.g. "TimeDistributed(Conv2D)"
    inner_class: str | None = None  # the class a wrapper (TimeDistributed, Bidirectional) wraps
    spec_layer: Layer | None = None  # what it becomes; None for InputLayer, or when it cannot be converted
    problems: list[str] = field(default_factory=list)
    children: list[FileLayer] = field(default_factory=list)  # a nested model's layers (in it, or in its TimeDistributed)
    calls: int = 1
    has_group: bool = True  # Keras 3 gives it a group in model.weights.h5 (not a Sequential's InputLayer: see read)

    @property
    def supported(self) -> bool:
        return not self.problems and all(child.supported for child in self.children)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, FileLayer]]:
        """This layer and every nested one, with its depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@dataclass(frozen=True)
class ParsedConfig:
    spec: ModelSpec | None  # None when any layer is unsupported
    layers: list[FileLayer]
    keras_version: str | None


def parse_model_config(config: Any, *, keras_version: str | None, where: str) -> ParsedConfig:
    """Every layer with what it becomes; the spec when all are supported."""
    if not isinstance(config, Mapping) or config.get("class_name") not in MODEL_CLASSES:
        found = config.get("class_name") if isinstance(config, Mapping) else type(config).__name__
        raise UnsupportedModelError(f"{where}: top-level object is {found!r}; expected a Sequential or Functional model")
    _check_nesting(config, where)
    reader = _ModelReader(where, legacy=_is_keras2(keras_version), data_format=model_data_format(config))
    spec, layers = reader.read(config, depth=0, expected=None)
    return ParsedConfig(spec, layers, keras_version)


def spec_from_config(config: Any, *, keras_version: str | None, where: str) -> tuple[ModelSpec, list[FileLayer]]:
    parsed = parse_model_config(config, keras_version=keras_version, where=where)
    bad = [(depth, layer) for top in parsed.layers for depth, layer in top.walk() if layer.problems]
    if bad or parsed.spec is None:
        lines = "\n".join(f"  - {layer.name!r} ({layer.display}): {'; '.join(layer.problems)}" for _, layer in bad)
        raise UnsupportedModelError(f"{where}: layers lstm2d cannot convert:\n{lines}\nSupported: {supported_summary()}")
    return parsed.spec, parsed.layers


def _check_nesting(config: Any, where: str) -> None:
    """Models nested in models more than ``MAX_DEPTH`` deep (called as layers, or in TimeDistributed) are refused before
    any is read, naming the chain of models."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(config, ())]
    while stack:
        node, models = stack.pop()
        if isinstance(node, list):
            stack.extend((child, models) for child in node)
            continue
        if not isinstance(node, Mapping):
            continue
        if node.get("class_name") in MODEL_CLASSES:
            models = (*models, _name(node))
            if len(models) > MAX_DEPTH + 1:
                raise ModelFileError(f"{where}: models nested more than {MAX_DEPTH} deep: {' > '.join(models)}")
        stack.extend((child, models) for child in node.values())


def _is_keras2(version: str | None) -> bool:
    return version is not None and version.split(".")[0] in ("1", "2")


def _class(raw: Any) -> str:
    return str(raw.get("class_name", "?")) if isinstance(raw, Mapping) else "?"


def _config(raw: Any) -> dict[str, Any]:
    config = raw.get("config") if isinstance(raw, Mapping) else None
    return dict(config) if isinstance(config, Mapping) else {}


def _name(raw: Any) -> str:
    return str(_config(raw).get("name", raw.get("name", "?") if isinstance(raw, Mapping) else "?"))


# -- the model's data format ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredFormat:
    """The frame layout of a file's model, and the layer that decided it (None: Keras' default, channels_last)."""

    value: DataFormat = "channels_last"
    decided_by: str | None = None


def _spatial_classes() -> set[str]:
    return {name for name, cls in KERAS_CLASSES.items() if cls.spatial}


def model_data_format(config: Any) -> DeclaredFormat:
    """The ``data_format`` of the first spatial layer at any depth (the others must agree; each is checked when it is
    read). Without one, a ``Flatten(data_format="channels_first")`` means channels_first frames (on channels_last ones
    Keras would flatten (W, C, H)); otherwise the model is channels_last."""
    declared = list(_declared_formats(config, 0))
    spatial = _spatial_classes()
    for name, class_name, value in declared:
        if class_name in spatial and value in DATA_FORMATS:
            return DeclaredFormat("channels_first" if value == "channels_first" else "channels_last", name)
    for name, class_name, value in declared:
        if class_name == "Flatten" and value == "channels_first":
            return DeclaredFormat("channels_first", name)
    return DeclaredFormat()


def _declared_formats(raw: Any, depth: int, name: str | None = None) -> Iterator[tuple[str, str, Any]]:
    """(layer name, class, data_format) of every layer, looking inside wrappers (named by the wrapper) and nested models."""
    if depth > MAX_DEPTH or not isinstance(raw, Mapping):
        return
    class_name = _class(raw)
    if class_name in MODEL_CLASSES:
        layers = _config(raw).get("layers")
        for layer in layers if isinstance(layers, list) else []:
            yield from _declared_formats(layer, depth + 1)
    elif isinstance(_config(raw).get("layer"), Mapping):
        yield from _declared_formats(_config(raw)["layer"], depth + 1, name or _name(raw))
    else:
        yield name or _name(raw), class_name, data_format_of(_config(raw))


# -- the graph of one model -----------------------------------------------------------------------------------------

History = tuple[str, int, int]  # (layer name, call index, output index), Keras' keras_history


@dataclass
class _Call:
    """One call of a layer in the file: the tensors it takes and the mask it is given."""

    inputs: list[History]
    mask: History | None


class _ModelReader:
    """Reads one model (and, recursively, the models nested in it) into a spec and its file layers."""

    def __init__(self, where: str, *, legacy: bool, data_format: DeclaredFormat) -> None:
        self.where = where
        self.legacy = legacy  # Keras 2 file: 'hard_sigmoid' means Keras 2's formula
        self.data_format = data_format

    def read(self, config: Mapping[str, Any], *, depth: int, expected: Shape | None) -> tuple[ModelSpec | None, list[FileLayer]]:
        """A model config: its spec (None if any layer is unsupported) and its layers. ``expected``: the per-sample
        shape a nested model's one input must have (its caller's)."""
        body = _config(config)
        raw_layers = body.get("layers")
        if not isinstance(raw_layers, list) or not raw_layers or not all(isinstance(raw, Mapping) for raw in raw_layers):
            raise ModelFileError(f"{self.where}: model {body.get('name')!r} lists no layers, or a layer entry is not an object")
        names = [_name(raw) for raw in raw_layers]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise ModelFileError(f"{self.where}: model {body.get('name')!r} has layer names that appear twice: {twice}")
        if _class(config) == "Sequential":
            raw_layers, calls, inputs_, outputs = _sequential_graph(raw_layers, body)
        else:
            calls, inputs_, outputs = _functional_graph(raw_layers, body, self.where, legacy=self.legacy)
        spec, layers = _GraphBuilder(self, raw_layers, calls, inputs_, outputs, depth, expected, body.get("name")).build()
        if _class(config) == "Sequential":
            layers[0].has_group = False  # Keras' Sequential.layers leaves out its InputLayer, so it is not saved
        return spec, layers


def _sequential_graph(
    raw_layers: list[Any], body: Mapping[str, Any]
) -> tuple[list[Any], dict[str, list[_Call]], list[str], list[History]]:
    """A Sequential as a graph: an InputLayer (given, or made from the build shape), then each layer on the previous."""
    if _class(raw_layers[0]) != "InputLayer":
        shape = (
            body.get("build_input_shape")
            or _config(raw_layers[0]).get("batch_input_shape")
            or _config(raw_layers[0]).get("batch_shape")
        )
        taken, name, n = {_name(raw) for raw in raw_layers}, "input", 0
        while name in taken:  # a name of its own
            n += 1
            name = f"input_{n}"
        raw_layers = [{"class_name": "InputLayer", "config": {"name": name, "batch_shape": shape}}, *raw_layers]
    names = [_name(raw) for raw in raw_layers]
    calls = {name: [_Call([(previous, 0, 0)], None)] for previous, name in itertools.pairwise(names)}
    calls[names[0]] = []
    return raw_layers, calls, [names[0]], [(names[-1], 0, 0)]


def _functional_graph(
    raw_layers: list[Any], body: Mapping[str, Any], where: str, *, legacy: bool
) -> tuple[dict[str, list[_Call]], list[str], list[History]]:
    """Every layer's calls, the input layers and the outputs of a Functional model (Keras 3 or Keras 2 nodes), each
    reference to a layer's call counted from 0 (see :func:`_own_nodes`)."""
    calls: dict[str, list[_Call]] = {}
    own_nodes: dict[str, int] = {}
    for raw in raw_layers:
        name = _name(raw)
        nodes = raw.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise ModelFileError(f"{where}: layer {name!r} has inbound_nodes {nodes!r}, not a list")
        calls[name] = [_parse_call(node, name, where) for node in nodes]
        own_nodes[name] = _own_nodes(raw, legacy)
    inputs_ = [_history(item, where, "input_layers")[0] for item in _list(body, "input_layers", where)]
    outputs = [_history(item, where, "output_layers") for item in _list(body, "output_layers", where)]
    for layer in [*inputs_, *(name for name, _, _ in outputs)]:
        if layer not in calls:
            raise ModelFileError(f"{where}: the model's inputs or outputs name layer {layer!r}, which it does not have")
    if legacy:  # Keras 2 counts a nested model's own node everywhere
        for layer_calls in calls.values():
            for call in layer_calls:
                call.inputs = [_call_index(h, own_nodes, where) for h in call.inputs]
                call.mask = _call_index(call.mask, own_nodes, where) if call.mask else None
    outputs = [_call_index(h, own_nodes, where) for h in outputs]  # Keras 3 counts it in input/output_layers only
    return calls, inputs_, outputs


def _own_nodes(raw: Mapping[str, Any], legacy: bool) -> int:
    """How many nodes a nested model has before its first call, as the file counts a reference to one of its calls.

    A model built on an Input starts with a node of its own (its inputs to its outputs), which the config does not
    list. Keras 3 counts it for a Functional in ``input_layers`` / ``output_layers`` only (``["encoder", 1, 0]`` is
    the first call of ``encoder``; a call's ``keras_history`` says 0); Keras 2 counts it in every reference, for a
    Functional or Sequential whose layers start with an InputLayer (tf-keras ``_should_skip_first_node``)."""
    if legacy:
        layers = _config(raw).get("layers")
        starts_with_input = isinstance(layers, list) and bool(layers) and _class(layers[0]) == "InputLayer"
        return int(_class(raw) in MODEL_CLASSES and starts_with_input)
    return int(_class(raw) == "Functional")


def _call_index(history: History, own_nodes: Mapping[str, int], where: str) -> History:
    """``history`` with its node index counted from the layer's first call."""
    layer, node, index = history
    offset = own_nodes.get(layer, 0)
    if node < offset:
        raise ModelFileError(
            f"{where}: a tensor is taken from node {node} of model {layer!r}, its own node (inputs to outputs), which is "
            "not a call in this model"
        )
    return layer, node - offset, index


def _list(body: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = body.get(key)
    if isinstance(value, list) and value and isinstance(value[0], str):  # one [name, node, tensor] without the outer list
        value = [value]
    if not isinstance(value, list) or not value:
        raise ModelFileError(f"{where}: the model config has no {key}")
    return value


def _history(value: Any, where: str, what: str) -> History:
    if (
        isinstance(value, list)
        and len(value) >= 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value[1:3])
    ):
        return value[0], value[1], value[2]
    raise ModelFileError(f"{where}: {what}: {value!r} is not a [layer, node, tensor] reference")


def _parse_call(node: Any, layer: str, where: str) -> _Call:
    """One inbound node: Keras 3 ``{"args": [...], "kwargs": {...}}`` or Keras 2 ``[[name, node, tensor, kwargs], ...]``."""
    if isinstance(node, Mapping):
        tensors = _tensors(node.get("args", []), where, layer)
        kwargs = node.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise ModelFileError(f"{where}: layer {layer!r} has kwargs {kwargs!r}, not an object")
        mask = _tensors(kwargs.get("mask"), where, layer)
        others = [key for key, value in kwargs.items() if key not in ("mask", "training") and _tensors(value, where, layer)]
        if others:
            raise ModelFileError(f"{where}: layer {layer!r} is called with tensors as {others}, which lstm2d does not read yet")
    elif isinstance(node, list):
        tensors, mask = [], []
        for item in node:
            tensors.append(_history(item, where, f"an inbound node of {layer!r}"))
            kwargs = item[3] if len(item) > 3 and isinstance(item[3], Mapping) else {}
            if kwargs.get("mask") is not None:
                mask.append(_history(kwargs["mask"], where, f"the mask of {layer!r}"))
    else:
        raise ModelFileError(f"{where}: layer {layer!r} has an inbound node {node!r} of neither Keras format")
    if len(tensors) > MAX_NODE_INPUTS:
        raise ModelFileError(
            f"{where}: layer {layer!r} is called on {len(tensors)} tensors; lstm2d takes at most {MAX_NODE_INPUTS}"
        )
    if len(mask) > 1:
        raise ModelFileError(f"{where}: layer {layer!r} is given {len(mask)} masks")
    return _Call(tensors, mask[0] if mask else None)


def _tensors(value: Any, where: str, layer: str, depth: int = 0) -> list[History]:
    """Every Keras tensor (``__keras_tensor__`` with its ``keras_history``) in an argument, in order."""
    if depth > 4:
        raise ModelFileError(f"{where}: the arguments of layer {layer!r} nest too deep")
    if isinstance(value, Mapping):
        if value.get("class_name") == "__keras_tensor__":
            return [_history(_config(value).get("keras_history"), where, f"a tensor given to {layer!r}")]
        return [t for child in value.values() for t in _tensors(child, where, layer, depth + 1)]
    if isinstance(value, list):
        return [t for child in value for t in _tensors(child, where, layer, depth + 1)]
    return []


def _topological(calls: dict[str, list[_Call]], where: str) -> list[tuple[str, int]]:
    """Every (layer, call) after the calls it takes tensors from; a cycle, or a tensor no call makes, is an error."""
    pending: dict[tuple[str, int], set[tuple[str, int]]] = {}
    for layer, layer_calls in calls.items():
        for index, call in enumerate(layer_calls):
            needs = set()
            for source, node, _ in [*call.inputs, *([call.mask] if call.mask else [])]:
                if source not in calls:
                    raise ModelFileError(
                        f"{where}: layer {layer!r} takes a tensor from {source!r}, which the model does not have"
                    )
                if not calls[source]:  # an input layer: always there
                    if node != 0:
                        raise ModelFileError(f"{where}: layer {layer!r} takes call {node} of input {source!r}, which has one")
                    continue
                if node >= len(calls[source]):
                    raise ModelFileError(
                        f"{where}: layer {layer!r} takes call {node} of {source!r}, which is called {len(calls[source])} times"
                    )
                needs.add((source, node))
            if index > 0:
                needs.add((layer, index - 1))  # a shared layer's calls keep their order (call k is the spec's call k)
            pending[(layer, index)] = needs
    order: list[tuple[str, int]] = []
    ready = [key for key, needs in pending.items() if not needs]
    waiting = {key: set(needs) for key, needs in pending.items() if needs}
    consumers: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for key, needs in waiting.items():
        for need in needs:
            consumers.setdefault(need, []).append(key)
    while ready:
        key = ready.pop(0)
        order.append(key)
        for consumer in consumers.get(key, []):
            waiting[consumer].discard(key)
            if not waiting[consumer]:
                ready.append(consumer)
                del waiting[consumer]
    if waiting:
        cycle = sorted({layer for layer, _ in waiting})
        raise ModelFileError(f"{where}: the layer graph has a cycle through {cycle}")
    return order


# -- building the spec ------------------------------------------------------------------------------------------


class _GraphBuilder:
    """One model's layers decoded in topological order, shapes tracked, into a spec."""

    def __init__(
        self, reader: _ModelReader, raw_layers: list[Any], calls: dict[str, list[_Call]], inputs_: list[str],
        outputs: list[History], depth: int, expected: Shape | None, model_name: Any,
    ) -> None:  # fmt: skip
        self.reader, self.where, self.depth = reader, reader.where, depth
        self.raw = {_name(raw): raw for raw in raw_layers}
        self.calls, self.input_names, self.outputs = calls, inputs_, outputs
        self.expected = expected
        self.model_name = str(model_name) if model_name else "keras-model"
        self.records: dict[str, FileLayer] = {}
        self.spec_names: dict[str, str] = {}
        self.used_names: set[str] = set()
        self.shapes: dict[History, Shape | None] = {}  # None: unknown after a layer that could not be read
        self.output_counts: dict[tuple[str, int], int] = {}  # (layer, call): how many tensors the call makes
        self.decoded: dict[str, Layer | None] = {}
        self.mask_ops = {name: m for name in self.raw if (m := self._masking_of(name)) is not None}  # op -> its Masking
        self.op_masks: list[tuple[str, int, str]] = []  # (layer, call, Masking layer) of each mask= from a mask op

    def build(self) -> tuple[ModelSpec | None, list[FileLayer]]:
        for name, raw in self.raw.items():
            outer = _class(raw)
            inner = _class(_config(raw).get("layer")) if isinstance(_config(raw).get("layer"), Mapping) else None
            display = f"{outer}({inner})" if inner else f"ops.{outer}" if is_op(raw) else outer
            record = FileLayer(name, outer, display, inner, calls=max(1, len(self.calls[name])))
            self.records[name] = record
        inputs = [self._input(name) for name in self.input_names]
        for name in self.raw:
            if not self.calls[name] and name not in self.input_names and name not in self.mask_ops:
                never = "not one of the model's input_layers" if _class(self.raw[name]) == "InputLayer" else "never called"
                self.records[name].problems.append(f"this layer is {never} in the model")
        nodes = []
        for layer_name, index in _topological(self.calls, self.where):
            node = self._node(layer_name, index)
            if node is not None:
                nodes.append(node)
        layers = [self.records[name] for name in self.raw if name not in self.mask_ops]
        read_inputs = [i for i in inputs if i is not None]
        if not all(layer.supported for layer in layers) or len(read_inputs) < len(inputs):
            return None, layers
        for history in self.outputs:
            self._check_made(history, "the model's output")
        outputs = [self._ref(history) for history in self.outputs]
        try:
            spec = ModelSpec(
                inputs=read_inputs, nodes=nodes, outputs=outputs, name=self.model_name, data_format=self.reader.data_format.value
            )
        except SpecError as exc:
            raise UnsupportedModelError(f"{self.where}: {exc}") from None
        self._check_op_masks(spec)
        return spec, layers

    # -- inputs ------------------------------------------------------------------------------------------------

    def _input(self, name: str) -> InputSpec | None:
        record = self.records[name]
        if _class(self.raw[name]) != "InputLayer":
            raise ModelFileError(f"{self.where}: the model's input {name!r} is a {_class(self.raw[name])}, not an InputLayer")
        config = _config(self.raw[name])
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        dtype = _dtype_name(config.get("dtype")) or "float32"
        problem = None
        if not (isinstance(shape, list) and 2 <= len(shape) <= 5 and all(d is None or isinstance(d, int) for d in shape)):
            problem = f"input shape {shape}: expected (batch, ...) with 1 to 4 axes per sample"
        elif None in shape[2:]:
            problem = f"input shape {shape}: only the time axis (the first after the batch) may be open"
        elif dtype not in ("float32", "bool"):
            problem = f"input dtype {dtype!r}: lstm2d reads float32 inputs (and bool masks)"
        spec_input = None
        if problem is None:
            assert isinstance(shape, list)  # checked above
            dims = tuple(shape[1:])
            if self.reader.data_format.value == "channels_first" and dtype == "float32" and len(dims) in (3, 4):
                *outer, channels, height, width = dims
                dims = (*outer, height, width, channels)  # the spec's (height, width, channels) terms
            try:
                spec_input = InputSpec(dims, self._spec_name(record), "bool" if dtype == "bool" else "float32")
            except SpecError as exc:
                problem = str(exc)
        if problem is not None:
            record.problems.append(problem)
            self.shapes[(name, 0, 0)] = None
            self.output_counts[(name, 0)] = 1
            return None
        assert spec_input is not None
        if self.expected is not None and self.depth > 0 and spec_input.per_sample.dims[1:] != self.expected.dims[1:]:
            raise UnsupportedModelError(
                f"{self.where}: nested model {self.model_name!r} takes {describe_shape(spec_input.per_sample)}, but is given "
                f"{describe_shape(self.expected)}"
            )
        self.shapes[(name, 0, 0)] = spec_input.per_sample
        self.output_counts[(name, 0)] = 1
        return spec_input

    # -- layers ------------------------------------------------------------------------------------------------

    def _node(self, layer_name: str, index: int) -> Node | None:
        record, raw = self.records[layer_name], self.raw[layer_name]
        call = self.calls[layer_name][index]
        if layer_name in self.mask_ops:
            return None
        for source in sorted({h[0] for h in call.inputs} & set(self.mask_ops)):
            record.problems.append(f"takes the mask op {source!r} as an input; lstm2d reads a Masking layer's mask as mask= only")
        for history in call.inputs:
            if history[0] not in self.mask_ops:
                self._check_made(history, f"layer {layer_name!r}")
        given = [self.shapes.get(h) for h in call.inputs]
        if layer_name not in self.decoded:
            self.decoded[layer_name] = self._decode(record, raw, given[0] if len(given) == 1 else None)
            record.spec_layer = self.decoded[layer_name]
        layer = self.decoded[layer_name]
        mask = self._mask(record, call, index)
        outputs: tuple[Shape, ...] | None = None
        if layer is not None and None not in given:
            try:
                outputs = layer.output_shapes(tuple(s for s in given if s is not None))
            except SpecError as exc:
                record.problems.append(str(exc))
        count = len(outputs) if outputs is not None else _output_count(layer)
        self.output_counts[(layer_name, index)] = count
        for i in range(count):
            self.shapes[(layer_name, index, i)] = outputs[i] if outputs is not None else None
        if layer is None or outputs is None:
            return None
        return Node(layer, tuple(self._ref(h) for h in call.inputs), mask)

    def _decode(self, record: FileLayer, raw: Mapping[str, Any], shape: Shape | None) -> Layer | None:
        """The spec layer for one file layer (its first call's input ``shape``), or None with its problems recorded."""
        config = _config(raw)
        if is_op(raw):
            record.problems.append(f"{_class(raw)} is a Keras op ({raw['module']}) lstm2d does not convert yet")
            return None
        if (dtype := _dtype_name(config.get("dtype"))) not in (None, "float32"):
            record.problems.append(f"dtype policy {dtype!r}: only float32 is supported")
        class_name = _class(raw)
        if class_name in MODEL_CLASSES:
            return self._nested(record, raw, shape, name=self._spec_name(record))
        if class_name == "TimeDistributed":
            return self._time_distributed(record, raw, shape)
        layer = self._plain(record, class_name, config, shape, wrapped=False)
        if layer is not None and shape is not None and layer.item_rank is not None and layer.runs_per_frame(shape):
            record.problems.append(f"{class_name} {ARTICLE_HINT}")
            return None
        return layer

    def _plain(
        self, record: FileLayer, class_name: str, config: Mapping[str, Any], shape: Shape | None, *, wrapped: bool,
        name: str | None = None,
    ) -> Layer | None:  # fmt: skip
        kind = KERAS_CLASSES.get(class_name)
        if kind is None or class_name in MODEL_CLASSES or class_name == "TimeDistributed":
            record.problems.append(f"{class_name} is a Keras layer lstm2d does not convert yet")
            return None
        context = DecodeContext(
            name=self._spec_name(record) if name is None else name,
            data_format=self.reader.data_format.value,
            data_format_source=self.reader.data_format.decided_by,
            legacy=self.reader.legacy,
            shape=shape,
            wrapped=wrapped,
            problems=record.problems,
            decode=lambda inner, inner_name: self._plain(
                record, _class(inner), _config(inner), shape, wrapped=wrapped, name=inner_name
            ),
        )
        try:
            return kind.from_keras(class_name, config, context)
        except (SpecError, TypeError) as exc:
            record.problems.append(str(exc))
            return None

    def _time_distributed(self, record: FileLayer, raw: Mapping[str, Any], shape: Shape | None) -> Layer | None:
        """TimeDistributed(layer): the layer itself where lstm2d's rule runs it on every step anyway (a 2D layer on
        frames, Dense or an element-wise layer on a sequence, BatchNormalization per timestep), else the wrapper."""
        inner_raw = _config(raw).get("layer")
        if not isinstance(inner_raw, Mapping):
            record.problems.append("TimeDistributed without a layer")
            return None
        if shape is not None and shape.rank < 2:
            record.problems.append(
                f"TimeDistributed needs a time axis, got {describe_shape(shape)}; a Flatten or Reshape before it outside "
                "TimeDistributed flattened the whole sample: wrap per-frame layers in TimeDistributed"
            )
            return None
        step = shape.item if shape is not None else None
        name = self._spec_name(record)
        if _class(inner_raw) in MODEL_CLASSES:
            inner_name = _IDENTIFIER.sub("_", _name(inner_raw)) or "model"
            nested = self._nested(record, inner_raw, step, name=inner_name if inner_name[0].isalpha() else f"m_{inner_name}")
            return None if nested is None else TimeDistributed(nested, name)
        inner = self._plain(record, _class(inner_raw), _config(inner_raw), step, wrapped=True, name=name)
        if inner is None:
            return None
        if shape is None or inner.runs_per_frame(shape) or inner.step_invariant:
            return inner
        try:
            return TimeDistributed(inner.__class__(**{**_fields(inner), "name": ""}), name)
        except (SpecError, TypeError) as exc:
            record.problems.append(str(exc))
            return None

    def _nested(self, record: FileLayer, raw: Mapping[str, Any], shape: Shape | None, *, name: str) -> Layer | None:
        """A model inside this one: read like the outer one, its layers recorded as the record's children."""
        spec, children = self.reader.read(raw, depth=self.depth + 1, expected=shape)
        record.children = children
        if spec is None:
            return None
        try:
            return Submodel(spec, name)
        except SpecError as exc:
            record.problems.append(str(exc))
            return None

    # -- masks, names and references -----------------------------------------------------------------------------

    def _mask(self, record: FileLayer, call: _Call, index: int) -> str | None:
        """A mask given as ``mask=``: a boolean input's name; one computed by Keras 3's Masking ops is Masking's own
        (checked once the spec is made: :meth:`_check_op_masks`)."""
        if call.mask is None:
            return None
        source = call.mask[0]
        if source in self.mask_ops:
            self.op_masks.append((record.name, index, self.mask_ops[source]))
            return None  # the spec's Masking layer makes this mask itself
        if source in self.input_names and _dtype_name(_config(self.raw[source]).get("dtype")) == "bool":
            return self.spec_names.get(source, source)
        record.problems.append(f"a mask from {source!r}: lstm2d takes masks from a Masking layer or a boolean input")
        return None

    def _masking_of(self, name: str) -> str | None:
        """The Masking layer whose mask the op ``name`` computes, as Keras 3 records it: ``NotEqual(x, mask_value)`` on
        the Masking layer's input ``x``, or ``Any(axis=-1)`` of that NotEqual. None for any other layer or op."""
        raw = self.raw[name]
        if not is_op(raw) or _class(raw) not in MASK_OPS or len(self.calls[name]) != 1:
            return None
        call = self.calls[name][0]
        if len(call.inputs) != 1 or call.mask is not None:
            return None
        source = call.inputs[0][0]
        if _class(raw) == "Any":
            reduces_features = _config(raw).get("axis") == -1 and not _config(raw).get("keepdims")
            return self._masking_of(source) if reduces_features and _class(self.raw.get(source)) == "NotEqual" else None
        node = (raw.get("inbound_nodes") or [None])[0]  # None in a Sequential, which records no ops
        args = node.get("args", []) if isinstance(node, Mapping) else []
        masking = [
            n for n, r in self.raw.items()
            if _class(r) == "Masking" and not is_op(r) and any(c.inputs == call.inputs for c in self.calls[n])
        ]  # fmt: skip
        if len(masking) == 1 and len(args) == 2 and args[1] == _config(self.raw[masking[0]]).get("mask_value"):
            return masking[0]
        return None

    def _check_op_masks(self, spec: ModelSpec) -> None:
        """Each layer given a Masking layer's mask (as Keras 3 records it) gets that mask in the spec too: its input
        carries it (a Masking layer's mask flows to the recurrent layers after it)."""
        inference = spec.infer()
        for layer, index, masking in self.op_masks:
            name, source = self.spec_names[layer], self.spec_names[masking]
            entry = next(e for e in inference.nodes if e.layer.name == name and e.call == index)
            carried = inference.masks[resolve_ref(entry.node.inputs[0], inference.shapes, entry.layer.label)]
            if carried != source:
                raise UnsupportedModelError(
                    f"{self.where}: layer {layer!r} is given the mask of Masking layer {masking!r}, but its input "
                    f"{'carries no mask' if carried is None else f'carries the mask of {carried!r}'}; lstm2d takes a "
                    "Masking layer's mask along the layers after it"
                )

    def _spec_name(self, record: FileLayer) -> str:
        """The file's layer name as a spec name: an identifier, unique in this model."""
        if record.name in self.spec_names:
            return self.spec_names[record.name]
        base = _IDENTIFIER.sub("_", record.name) or "layer"
        base = f"_{base}" if base[0].isdigit() else base
        name, n = base, 1
        while name in self.used_names:
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        self.spec_names[record.name] = name
        return name

    def _check_made(self, history: History, user: str) -> None:
        """A ModelFileError unless the call named by ``history`` (already read: the calls go in topological order)
        makes the tensor it names."""
        layer, call, index = history
        if not self.calls[layer] and layer not in self.input_names:
            raise ModelFileError(
                f"{self.where}: {user} takes a tensor from {layer!r}, which is neither called in the model nor one of its "
                "input_layers"
            )
        calls = max(len(self.calls[layer]), 1)  # an input layer: the one tensor it is
        if call >= calls:
            raise ModelFileError(f"{self.where}: {user} takes call {call} of {layer!r}, which is called {calls} time(s)")
        made = self.output_counts.get((layer, call), 0)
        if index >= made:
            raise ModelFileError(
                f"{self.where}: {user} takes output {index} of {layer!r} (call {call}), which makes {made} tensor(s)"
            )

    def _ref(self, history: History) -> str:
        layer, call, index = history
        name = self.spec_names.get(layer, layer)
        return tensor_ref(name, call, index, outputs=self.output_counts.get((layer, call), 1))


def _output_count(layer: Layer | None) -> int:
    return 2 if getattr(layer, "merge_mode", "concat") is None else 1


def _fields(layer: Layer) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(layer, f.name) for f in fields(layer)}


def _dtype_name(dtype: Any) -> str | None:
    if dtype is None or isinstance(dtype, str):
        return dtype
    if isinstance(dtype, Mapping):
        return _config(dtype).get("name")
    return repr(dtype)


__all__ = ["FileLayer", "ParsedConfig", "model_data_format", "parse_model_config", "spec_from_config", "supported_summary"]
