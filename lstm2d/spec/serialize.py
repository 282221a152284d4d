"""ModelSpec as JSON, format 3, and the format 2 files of earlier lstm2d versions.

Format 3 lists the inputs and the layers (each once, with its ``kind``); a graph adds its nodes (a layer by
name, the tensors it is called on, an optional mask) and its outputs. Without nodes the layers are a stack,
each called on the previous one's output::

    {"format_version": 3, "name": "seed-cnn", "inputs": [{"name": "frames", "shape": [100, 10, 10, 1]}],
     "layers": [{"kind": "conv2d", "filters": 32, ...}, ...]}

Format 2 (lstm2d before graphs) had one frames input ``{"timesteps", "height", "width", "channels"}`` and a
stack of layers; it still loads. Unknown keys or kinds are errors, never ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from lstm2d.spec.base import LAYER_KINDS, Layer
from lstm2d.spec.graph import MAX_DEPTH, InputSpec, ModelSpec, Node
from lstm2d.spec.shapes import SpecError

SPEC_FORMAT_VERSION = 3
READABLE_FORMATS = (2, 3)


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    """A JSON-ready dict. ``data_format`` is written only for ``channels_first``; a stack has no ``nodes``."""
    out: dict[str, Any] = {"format_version": SPEC_FORMAT_VERSION, "name": spec.name}
    if spec.data_format != "channels_last":
        out["data_format"] = spec.data_format
    out["inputs"] = [_input_dict(i) for i in spec.inputs]
    out["layers"] = [layer_to_dict(layer) for layer in spec.layers]
    if not spec.is_stack or len(spec.outputs) != _stack_outputs(spec):
        out["nodes"] = [_node_dict(node) for node in spec.nodes]
        out["outputs"] = list(spec.outputs)
    return out


def _stack_outputs(spec: ModelSpec) -> int:
    return 2 if getattr(spec.nodes[-1].layer, "merge_mode", "concat") is None else 1


def _input_dict(spec_input: InputSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": spec_input.name, "shape": list(spec_input.shape)}
    if spec_input.dtype != "float32":
        out["dtype"] = spec_input.dtype
    return out


def _node_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"layer": node.layer.name, "inputs": list(node.inputs)}
    if node.mask is not None:
        out["mask"] = node.mask
    return out


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    """``{"kind": ..., <fields>..., "name": ...}``; a wrapped layer nests as its own dict, a nested model as a spec."""
    out: dict[str, Any] = {"kind": layer.kind}
    for f in sorted(fields(layer), key=lambda f: f.name == "name"):  # name last
        value = getattr(layer, f.name)
        if f.name in layer.omitted_defaults and value == f.default:
            continue
        if isinstance(value, Layer):
            value = layer_to_dict(value)
        elif isinstance(value, ModelSpec):
            value = spec_to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def spec_from_json(text: str) -> ModelSpec:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"model spec: not valid JSON ({exc})") from None
    return spec_from_dict(data)


def spec_from_dict(data: Any, *, depth: int = 0) -> ModelSpec:
    """Inverse of :func:`spec_to_dict` (and reader of format 2); unknown keys or layer kinds are errors."""
    if not isinstance(data, Mapping):
        raise SpecError(f"model spec: expected a JSON object, got {type(data).__name__}")
    if depth > MAX_DEPTH:
        raise SpecError(f"model spec: models nested more than {MAX_DEPTH} deep")
    version = data.get("format_version", 2 if "input" in data else SPEC_FORMAT_VERSION)
    if version not in READABLE_FORMATS:
        raise SpecError(f"model spec: format_version {version!r} is not supported (expected one of {READABLE_FORMATS})")
    name = data.get("name", "lstm2d")
    data_format = data.get("data_format", "channels_last")
    if version == 2:
        check_keys(data, {"format_version", "name", "data_format", "input", "layers"}, "model spec")
        return ModelSpec(_format2_input(data), _layers(data, depth), name=name, data_format=data_format)
    check_keys(data, {"format_version", "name", "data_format", "inputs", "layers", "nodes", "outputs"}, "model spec")
    inputs = _inputs(data)
    layers = _layers(data, depth)
    if "nodes" not in data and "outputs" not in data:
        if len(inputs) != 1:
            raise SpecError(f"model spec: a stack (no 'nodes') has one input, got {len(inputs)}; list the nodes")
        return ModelSpec(inputs[0], layers, name=name, data_format=data_format)
    by_name = {layer.name: layer for layer in layers}
    if len(by_name) != len(layers) or "" in by_name:
        raise SpecError("model spec layers: in a graph every layer needs a unique name")
    nodes = [_node(item, i, by_name) for i, item in enumerate(_list(data, "nodes"))]
    outputs = _list(data, "outputs")
    return ModelSpec(inputs=inputs, nodes=nodes, outputs=outputs, name=name, data_format=data_format)


def _format2_input(data: Mapping[str, Any]) -> InputSpec:
    item = data.get("input")
    if not isinstance(item, Mapping):
        raise SpecError(f"model spec input: expected an object, got {item!r}")
    check_keys(item, {"timesteps", "height", "width", "channels"}, "model spec input")
    missing = {"timesteps", "height", "width"} - set(item)
    if missing:
        raise SpecError(f"model spec input: missing {sorted(missing)}")
    return InputSpec.frames(item["timesteps"], item["height"], item["width"], item.get("channels", 1))


def _inputs(data: Mapping[str, Any]) -> list[InputSpec]:
    out = []
    for i, item in enumerate(_list(data, "inputs")):
        if not isinstance(item, Mapping):
            raise SpecError(f"model spec inputs[{i}]: expected an object, got {item!r}")
        check_keys(item, {"name", "shape", "dtype"}, f"model spec inputs[{i}]")
        shape = item.get("shape")
        if not isinstance(shape, list):
            raise SpecError(f"model spec inputs[{i}] shape: expected a list of sizes, got {shape!r}")
        try:
            out.append(InputSpec(tuple(shape), item.get("name", "frames"), item.get("dtype", "float32")))
        except TypeError as exc:
            raise SpecError(f"model spec inputs[{i}]: {exc}") from None
    return out


def _layers(data: Mapping[str, Any], depth: int) -> list[Layer]:
    return [layer_from_dict(item, f"layers[{i}]", depth=depth) for i, item in enumerate(_list(data, "layers"))]


def _node(item: Any, index: int, layers: Mapping[str, Layer]) -> Node:
    what = f"model spec nodes[{index}]"
    if not isinstance(item, Mapping):
        raise SpecError(f"{what}: expected an object, got {item!r}")
    check_keys(item, {"layer", "inputs", "mask"}, what)
    layer = layers.get(str(item.get("layer")))
    if layer is None:
        raise SpecError(f"{what}: layer {item.get('layer')!r} is not one of the spec's layers")
    inputs = item.get("inputs")
    if not isinstance(inputs, list):
        raise SpecError(f"{what} inputs: expected a list of tensor names, got {inputs!r}")
    return Node(layer, tuple(inputs), item.get("mask"))


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    if key not in data:
        raise SpecError(f"model spec: missing {key!r}")
    value = data[key]
    if not isinstance(value, list):
        raise SpecError(f"model spec {key}: expected a list, got {value!r}")
    return value


def check_keys(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(f"{what}: unknown keys {unknown}; expected some of {sorted(allowed)}")


def layer_from_dict(item: Any, what: str, kinds: Mapping[str, type[Layer]] | None = None, *, depth: int = 0) -> Any:
    """The layer a JSON object describes (``kinds``: the kinds allowed there, default every kind)."""
    kinds = LAYER_KINDS if kinds is None else kinds
    if not isinstance(item, Mapping) or "kind" not in item:
        raise SpecError(f"{what}: expected a layer object with a 'kind', got {item!r}")
    kind = item["kind"]
    if kind not in kinds:
        raise SpecError(f"{what}: unknown layer kind {kind!r}; expected one of {sorted(kinds)}")
    cls = kinds[kind]
    values = {k: v for k, v in item.items() if k != "kind"}
    check_keys(values, {f.name for f in fields(cls)}, f"{what} ({kind})")
    if kind == "model" and isinstance(values.get("spec"), Mapping):
        values["spec"] = spec_from_dict(values["spec"], depth=depth + 1)
    try:
        return cls(**values)
    except TypeError as exc:
        raise SpecError(f"{what} ({kind}): {exc}") from None
