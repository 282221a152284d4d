"""What ``lstm2d inspect`` prints: a model's graph as tables, and a Keras file's layers with what lstm2d makes of each.

The graph: the inputs (name, shape per sample in the Keras model's layout, dtype); one row per call of a layer (a
shared layer's later calls as ``name@1``, ``name@2``, ...) with what it is, the tensors it takes, the shape of each
output per sample and its parameters (counted once, at a shared layer's first call); the layers of a nested model
indented under the row that calls it, with their own counts and the shapes they see (one step of the sequence,
under TimeDistributed); the outputs; the total. Parameter counts are Keras' (every variable, BatchNormalization's
moving statistics included), from ``torch_impl.weight_table`` (imported when called).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from lstm2d.spec import ModelSpec, NodeShapes, Shape, Submodel, TimeDistributed, dims_text, tensor_ref

if TYPE_CHECKING:
    from torch_impl.files.keras_config import FileLayer

Row = tuple[str, ...]
INDENT = "  "


def format_rows(rows: Sequence[Row]) -> list[str]:
    """``rows`` (the first one the header) as lines of left-aligned columns, indented by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [INDENT + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def parameter_counts(spec: ModelSpec) -> dict[str, int]:
    """Keras' parameter count of every layer that has weights, by layer path (``conv``, ``backbone/conv`` inside a
    nested model ``backbone``)."""
    from torch_impl.weight_table import weight_table

    return {entry.name: sum(math.prod(shape) for shape in entry.keras_shapes.values()) for entry in weight_table(spec)}


def keras_classes(layers: Sequence[FileLayer]) -> dict[str, str]:
    """The Keras class a file gives each converted layer (``TimeDistributed(Conv2D)``), by spec layer path."""
    classes: dict[str, str] = {}

    def visit(layer: FileLayer, prefix: str) -> None:
        if layer.spec_layer is None:
            return
        path = prefix + layer.spec_layer.name
        classes[path] = layer.display
        for child in layer.children:
            visit(child, path + "/")

    for layer in layers:
        visit(layer, "")
    return classes


def graph_summary(spec: ModelSpec, classes: Mapping[str, str] | None = None) -> list[str]:
    """The model's inputs, graph, outputs and total parameters as lines of text; ``classes`` (by layer path) adds a
    column with each layer's Keras class in the file."""
    counts = parameter_counts(spec)
    keras_inputs = spec.keras_input_shapes()
    lines = ["inputs (shape per sample, in the Keras model's layout)"]
    lines += format_rows([("name", "shape", "dtype")] + [(i.name, _dims(keras_inputs[i.name]), i.dtype) for i in spec.inputs])
    keras_column = () if classes is None else ("Keras layer",)
    rows: list[Row] = [("node", *keras_column, "lstm2d", "inputs", "output per sample", "parameters")]
    for node, path, *cells in _node_rows(spec, counts, "", 0):
        rows.append((node, *(() if classes is None else (classes.get(path, "-"),)), *cells))
    axes = "" if spec.data_format == "channels_last" else "; frames and grids as (height, width, channels)"
    title = "graph (one row per layer call; a nested model's layers indented under it, with the shapes it sees"
    lines += ["", f"{title}: one step under TimeDistributed){axes}", *format_rows(rows)]
    shapes = spec.keras_output_shapes()
    lines += ["", "outputs (shape per sample, in the Keras model's layout)"]
    lines += format_rows([("name", "shape")] + [(ref, _dims(shape)) for ref, shape in zip(spec.outputs, shapes, strict=True)])
    lines += ["", f"total parameters: {sum(counts.values()):,}"]
    return lines


def _node_rows(
    spec: ModelSpec, counts: Mapping[str, int], prefix: str, depth: int, given: Mapping[str, Shape] | None = None
) -> Iterator[Row]:
    """``(node, layer path, what it is, inputs, outputs, parameters)`` per call, a nested model's calls after its own
    (``given``: the shapes a nested model receives, by its input names)."""
    for entry in spec.infer(given).nodes:
        layer, path = entry.layer, prefix + entry.layer.name
        inputs = ", ".join((*entry.node.inputs, *((f"mask={entry.node.mask}",) if entry.node.mask else ())))
        params = f"{_count(counts, path):,}" if entry.call == 0 else "shared"
        outputs = ", ".join(dims_text(shape) for shape in entry.outputs)
        yield INDENT * depth + tensor_ref(layer.name, entry.call), path, layer.describe(), inputs, outputs, params
        nested = _nested(entry)
        if nested is not None and entry.call == 0:
            yield from _node_rows(nested[0], counts, path + "/", depth + 1, nested[1])


def _nested(entry: NodeShapes) -> tuple[ModelSpec, dict[str, Shape]] | None:
    """The model a call runs (a nested model, or one under TimeDistributed) and the shapes it receives, by input name."""
    layer, shapes = entry.layer, entry.inputs
    if isinstance(layer, TimeDistributed) and isinstance(layer.layer, Submodel):
        layer, shapes = layer.layer, tuple(shape.item for shape in shapes)
    if not isinstance(layer, Submodel):
        return None
    return layer.spec, {i.name: shape for i, shape in zip(layer.spec.inputs, shapes, strict=True)}


def _count(counts: Mapping[str, int], path: str) -> int:
    """The parameters of the layer at ``path``, those of the layers it holds included."""
    return sum(count for key, count in counts.items() if key == path or key.startswith(path + "/"))


def _dims(dims: Sequence[int | None]) -> str:
    return dims_text(Shape(tuple(dims)))


def file_layers(layers: Sequence[FileLayer]) -> list[str]:
    """A Keras file's layers (a nested model's indented under it), each with what lstm2d makes of it or why not."""
    rows: list[Row] = [("layer", "Keras class", "lstm2d", "status")]
    for top in layers:
        for depth, layer in top.walk():
            becomes = (
                layer.spec_layer.describe() if layer.spec_layer is not None
                else "input" if layer.keras_class == "InputLayer" else "-"
            )  # fmt: skip
            if layer.problems:
                status = "NOT SUPPORTED: " + "; ".join(layer.problems)
            else:
                status = "supported" if layer.supported else "holds unsupported layers"
            rows.append((INDENT * depth + layer.name, layer.display, becomes, status))
    return format_rows(rows)
