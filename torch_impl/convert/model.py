"""Whole-model weight mapping between Keras and torch, as a table built from the spec.

Keras weights travel as ``{layer name: {variable name: array}}`` in Keras layout
(``KerasWeights``); torch weights as ``{state-dict key: array}`` (``TorchState``).
Every tensor on either side is accounted for: a missing, extra or wrongly shaped
tensor is an error that names it. Nothing is silently skipped or broadcast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np

from lstm2d.spec import Conv2D, ModelSpec
from torch_impl.convert import conv2d, dense, lstm
from torch_impl.convert.layout import hwc_index_of_chw

KerasWeights = dict[str, dict[str, np.ndarray]]
TorchState = dict[str, np.ndarray]
Shape = tuple[int, ...]


class WeightMismatchError(ValueError):
    """Weights that do not fit the model: missing, extra, or of the wrong shape or dtype."""


@dataclass(frozen=True)
class LayerWeights:
    """One layer's tensors on both sides and the functions that convert between them."""

    name: str
    kind: str
    torch_prefix: str
    keras_shapes: dict[str, Shape]
    torch_shapes: dict[str, Shape]  # keys relative to torch_prefix
    to_torch: Callable[..., dict[str, np.ndarray]]
    to_keras: Callable[..., dict[str, np.ndarray]]


def weight_table(spec: ModelSpec) -> list[LayerWeights]:
    """Every layer with weights, in model order, with its shapes on both sides."""
    table: list[LayerWeights] = []
    for layer, (_, _, cin) in zip(spec.frontend, spec.frame_shapes()[:-1], strict=True):
        if isinstance(layer, Conv2D):
            kh, kw = layer.kernel_size
            cout = layer.filters
            table.append(
                LayerWeights(
                    layer.name, "conv2d", f"frontend.{layer.name}.",
                    keras_shapes={"kernel": (kh, kw, cin, cout), "bias": (cout,)},
                    torch_shapes={"weight": (cout, cin, kh, kw), "bias": (cout,)},
                    to_torch=conv2d.keras_to_torch, to_keras=conv2d.torch_to_keras,
                )
            )  # fmt: skip
    flatten_order = hwc_index_of_chw(*spec.flat_frame_shape)
    for index, (layer, n_in) in enumerate(zip(spec.recurrent, spec.recurrent_input_sizes(), strict=True)):
        units = layer.units
        order = flatten_order if index == 0 else None
        table.append(
            LayerWeights(
                layer.name, "lstm", f"recurrent.{layer.name}.",
                keras_shapes={"kernel": (n_in, 4 * units), "recurrent_kernel": (units, 4 * units), "bias": (4 * units,)},
                torch_shapes={"weight_ih_l0": (4 * units, n_in), "weight_hh_l0": (4 * units, units),
                              "bias_ih_l0": (4 * units,), "bias_hh_l0": (4 * units,)},
                to_torch=partial(lstm.keras_to_torch, input_order=order),
                to_keras=partial(lstm.torch_to_keras, input_order=order),
            )
        )  # fmt: skip
    for layer, n_in in zip(spec.head, spec.head_input_sizes(), strict=True):
        table.append(
            LayerWeights(
                layer.name, "dense", f"head.{layer.name}.",
                keras_shapes={"kernel": (n_in, layer.units), "bias": (layer.units,)},
                torch_shapes={"weight": (layer.units, n_in), "bias": (layer.units,)},
                to_torch=dense.keras_to_torch, to_keras=dense.torch_to_keras,
            )
        )  # fmt: skip
    return table


def keras_to_torch(spec: ModelSpec, keras_weights: Mapping[str, Mapping[str, np.ndarray]]) -> TorchState:
    """Convert Keras-layout weights of a model built from ``spec`` to a torch state dict."""
    table = weight_table(spec)
    _check_no_extra_layers(table, keras_weights)
    state: TorchState = {}
    for entry in table:
        given = keras_weights.get(entry.name)
        if given is None:
            raise WeightMismatchError(
                f"missing Keras weights for layer {entry.name!r} ({entry.kind}): expected {_describe(entry.keras_shapes)}"
            )
        arrays = _checked(given, entry.keras_shapes, f"Keras layer {entry.name!r} ({entry.kind})")
        converted = _checked(entry.to_torch(**arrays), entry.torch_shapes, f"converted torch tensors of {entry.name!r}")
        state.update({entry.torch_prefix + key: value for key, value in converted.items()})
    return state


def torch_to_keras(spec: ModelSpec, state: Mapping[str, np.ndarray]) -> KerasWeights:
    """Convert a torch state dict (as numpy arrays) of a model built from ``spec`` to Keras-layout weights."""
    table = weight_table(spec)
    expected = {entry.torch_prefix + key for entry in table for key in entry.torch_shapes}
    extra = sorted(set(state) - expected)
    if extra:
        raise WeightMismatchError(f"torch state has tensors the spec does not account for: {extra}")
    keras_weights: KerasWeights = {}
    for entry in table:
        missing = [entry.torch_prefix + key for key in entry.torch_shapes if entry.torch_prefix + key not in state]
        if missing:
            raise WeightMismatchError(f"missing torch tensors for layer {entry.name!r} ({entry.kind}): {missing}")
        given = {key: state[entry.torch_prefix + key] for key in entry.torch_shapes}
        arrays = _checked(given, entry.torch_shapes, f"torch layer {entry.name!r} ({entry.kind}, keys {entry.torch_prefix}*)")
        keras_weights[entry.name] = _checked(
            entry.to_keras(**arrays), entry.keras_shapes, f"converted Keras weights of {entry.name!r}"
        )
    return keras_weights


def _check_no_extra_layers(table: list[LayerWeights], keras_weights: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    known = {entry.name for entry in table}
    extra = sorted(name for name, variables in keras_weights.items() if name not in known and len(variables) > 0)
    if extra:
        raise WeightMismatchError(
            f"Keras weights for layers the spec does not have (or that have no weights in it): {extra}; "
            f"layers with weights: {sorted(known)}"
        )


def _checked(arrays: Mapping[str, np.ndarray], shapes: Mapping[str, Shape], what: str) -> dict[str, np.ndarray]:
    """``arrays`` as float32 numpy arrays, after checking names, shapes and dtypes against ``shapes``."""
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    if missing or extra:
        raise WeightMismatchError(f"{what}: expected tensors {_describe(shapes)}; missing {missing}, unexpected {extra}")
    out: dict[str, np.ndarray] = {}
    for key, shape in shapes.items():
        array = np.asarray(arrays[key])
        if tuple(array.shape) != shape:
            raise WeightMismatchError(f"{what}: tensor {key!r} has shape {tuple(array.shape)}, expected {shape}")
        if array.dtype.kind != "f":
            raise WeightMismatchError(f"{what}: tensor {key!r} has dtype {array.dtype}, expected a floating-point dtype")
        out[key] = array.astype(np.float32, copy=False)
    return out


def _describe(shapes: Mapping[str, Shape]) -> str:
    return ", ".join(f"{key} {shape}" for key, shape in shapes.items())
