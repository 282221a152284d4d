"""Whole-model weight mapping between Keras and torch, as a table built from the spec.

Keras weights travel as ``{layer path: {variable name: array}}`` in Keras layout (``KerasWeights``; a
Bidirectional's variables are ``forward/kernel``, ``backward/bias``, ...; a layer inside a nested model is
``<model>/<layer>``); torch weights as ``{state-dict key: array}`` (``TorchState``). Every tensor on either side
is accounted for: a missing, extra or wrongly shaped tensor is an error that names it. Nothing is silently
skipped or broadcast. Each layer kind's entry (``torch_impl.kinds``) says which tensors it has and how they
convert; the torch model's layout plan says in which order the features reach it (see ``torch_impl.layout``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lstm2d.spec import ModelSpec
from torch_impl.kinds import LayerWeights, TensorShape, torch_kind
from torch_impl.model import plan_of

KerasWeights = dict[str, dict[str, np.ndarray]]
TorchState = dict[str, np.ndarray]


class WeightMismatchError(ValueError):
    """Weights that do not fit the model: missing, extra, or of the wrong shape or dtype."""


def weight_table(spec: ModelSpec, *, path: str = "", prefix: str = "layers.") -> list[LayerWeights]:
    """Every layer with weights, in the order of its first call, with its shapes on both sides (the layers of nested
    models under ``<model>/``, their torch keys under ``layers.<model>.layers.``)."""
    table: list[LayerWeights] = []
    for name, node in plan_of(spec).first_calls.items():
        layer = node.shapes.layer
        table += torch_kind(layer).weights(layer, node, path + name, f"{prefix}{name}.")
    return table


MERGED_BIASES = (("bias", "bias_ih_l0", "bias_hh_l0"), ("forward/bias", "bias_ih_l0", "bias_hh_l0"),
                 ("backward/bias", "bias_ih_l0_reverse", "bias_hh_l0_reverse"))  # fmt: skip
NON_TRAINABLE = ("moving_mean", "moving_variance", "mean", "variance", "count")  # Keras statistics (BatchNormalization's,
# an adapted Normalization's), not trained
INTEGER_VARIABLES = ("count",)
"""Keras variables that are integers (an adapted ``Normalization``'s count of samples): read and carried as float32
like every weight (exact up to 2^24), written as int64 as Keras writes them."""


def merged_biases(entry: LayerWeights) -> list[tuple[str, str]]:
    """The ``(bias_ih, bias_hh)`` key pairs (relative to ``entry.torch_prefix``) that are one Keras bias.

    Keras' LSTM, SimpleRNN and GRU(reset_after=False) have one bias ``(G*U,)`` where torch keeps two;
    the cell only ever sees their sum. (GRU reset_after=True keeps two Keras rows that map one-to-one.)
    """
    return [
        (ih, hh)
        for keras_key, ih, hh in MERGED_BIASES
        if len(entry.keras_shapes.get(keras_key, ())) == 1 and hh in entry.torch_shapes
    ]


def merged_bias_keys(spec: ModelSpec) -> list[str]:
    """State-dict keys of the torch ``bias_hh`` tensors that Keras does not have (see :func:`merged_biases`);
    the torch model keeps them frozen."""
    return [entry.torch_prefix + hh for entry in weight_table(spec) for _, hh in merged_biases(entry)]


def keras_gradients_to_torch(spec: ModelSpec, keras_grads: Mapping[str, Mapping[str, np.ndarray]]) -> TorchState:
    """Gradients of Keras' trainable weights as the gradients of the torch model's trainable parameters.

    Gradients follow the weights' layout rules (transposes, gate order, the flatten permutation). A merged
    recurrent bias' gradient goes to ``bias_ih``; the frozen ``bias_hh`` (see ``merged_biases``) and
    BatchNormalization's moving statistics are not trained and have none.
    """
    table = weight_table(spec)
    _check_no_extra_layers(table, keras_grads)
    state: TorchState = {}
    for entry in table:
        shapes = {key: shape for key, shape in entry.keras_shapes.items() if key not in NON_TRAINABLE}
        what = f"Keras gradients of layer {entry.name!r} ({entry.kind})"
        converted = entry.to_torch(**_checked(keras_grads.get(entry.name, {}), shapes, what))
        for _, hh in merged_biases(entry):
            del converted[hh]
        state.update({entry.torch_prefix + key: value for key, value in converted.items()})
    return state


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


def _checked(arrays: Mapping[str, np.ndarray], shapes: Mapping[str, TensorShape], what: str) -> dict[str, np.ndarray]:
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
        if array.dtype.kind != "f" and not (key in INTEGER_VARIABLES and array.dtype.kind in "iu"):
            raise WeightMismatchError(f"{what}: tensor {key!r} has dtype {array.dtype}, expected a floating-point dtype")
        out[key] = array.astype(np.float32, copy=False)
    return out


def _describe(shapes: Mapping[str, TensorShape]) -> str:
    return ", ".join(f"{key} {shape}" for key, shape in shapes.items())
