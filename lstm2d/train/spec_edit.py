"""Deriving the spec a data set needs from a preset, spec file or Keras model: its input shapes and output units.

This is the only module of ``lstm2d.train`` that looks at the spec's layers; everything else uses
``spec.inputs``, ``spec.output_shapes()`` and ``spec.name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from lstm2d.spec import Conv2D, Conv3D, Dense, InputSpec, Layer, ModelSpec, Node, parse_ref


def output_activation(spec: ModelSpec, index: int = 0) -> str:
    """The activation applied last on the way to output ``index`` (``linear`` where its layer has none, e.g. a Flatten)."""
    return getattr(spec.layer(parse_ref(spec.outputs[index], "outputs")[0]), "activation", "linear")


def adapt_spec(spec: ModelSpec, *, inputs: Iterable[InputSpec], units: Sequence[int]) -> ModelSpec:
    """``spec`` reading samples shaped like ``inputs`` (by input name; the others unchanged) and giving ``units[k]``
    values (or classes, or channels) per sample or per timestep at output ``k``.

    An output made by a Dense (or a Conv2D / Conv3D, for frame outputs) that nothing else reads, called once, gets
    ``units`` units (same name and activation); any other output of the wrong width gets a linear Dense appended.
    Everything else is kept, so for a spec whose inputs and outputs already fit, the result equals ``spec``.
    """
    given = {i.name: i for i in inputs}
    nodes, outputs = list(spec.nodes), list(spec.outputs)
    for k, (ref, shape) in enumerate(zip(spec.outputs, spec.output_shapes(), strict=True)):
        if shape.dims[-1] == units[k]:
            continue
        name, _, index = parse_ref(ref, "outputs")
        resized = _resized(spec.layer(name), units[k]) if index is None and _only_output(spec, name) else None
        if resized is not None:
            nodes = [replace(node, layer=resized) if node.layer.name == name else node for node in nodes]
        else:
            head = _free_name(spec, "dense")
            nodes.append(Node(Dense(units[k], name=head), (ref,)))
            outputs[k] = head
    return ModelSpec(
        inputs=tuple(given.get(i.name, i) for i in spec.inputs),
        nodes=nodes,
        outputs=outputs,
        name=spec.name,
        data_format=spec.data_format,
    )


def _resized(layer: Layer, units: int) -> Layer | None:
    if isinstance(layer, Dense):
        return replace(layer, units=units)
    if isinstance(layer, (Conv2D, Conv3D)):
        return replace(layer, filters=units)
    return None


def _only_output(spec: ModelSpec, name: str) -> bool:
    """Whether layer ``name`` is called once and its output goes to no other layer (only out of the model)."""
    calls = sum(1 for node in spec.nodes if node.layer.name == name)
    read = any(parse_ref(ref, "")[0] == name for node in spec.nodes for ref in node.inputs)
    return calls == 1 and not read


def _free_name(spec: ModelSpec, kind: str) -> str:
    """``<kind>_<n>`` for the smallest ``n`` no input or layer of ``spec`` is named (ModelSpec's naming of new layers)."""
    taken = {*spec.input_names, *(layer.name for layer in spec.layers)}
    n = 1
    while f"{kind}_{n}" in taken:
        n += 1
    return f"{kind}_{n}"
