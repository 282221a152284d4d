"""Whole-model weight mapping between Keras and torch, as a table built from the spec.

Keras weights travel as ``{layer name: {variable name: array}}`` in Keras layout
(``KerasWeights``; a Bidirectional's variables are ``forward/kernel``, ``backward/bias``, ...);
torch weights as ``{state-dict key: array}`` (``TorchState``). Every tensor on either side is
accounted for: a missing, extra or wrongly shaped tensor is an error that names it. Nothing is
silently skipped or broadcast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np

from lstm2d.spec import (
    GRU,
    LSTM,
    Activation,
    BatchNorm,
    Bidirectional,
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    Dense,
    Dropout,
    Flatten,
    Frames,
    Grid,
    Layer,
    Masking,
    ModelSpec,
    RecurrentLayer,
    Shape,
    SimpleRNN,
    Steps,
    Vector,
)
from torch_impl.convert import batch_norm, conv, conv_lstm, dense, recurrent
from torch_impl.convert.layout import hwc_index_of_chw

KerasWeights = dict[str, dict[str, np.ndarray]]
TorchState = dict[str, np.ndarray]
TensorShape = tuple[int, ...]
DIRECTIONS = (("forward", ""), ("backward", "_reverse"))  # Keras' sub-layer prefix, torch's parameter suffix


class WeightMismatchError(ValueError):
    """Weights that do not fit the model: missing, extra, or of the wrong shape or dtype."""


@dataclass(frozen=True)
class LayerWeights:
    """One layer's tensors on both sides and the functions that convert between them."""

    name: str
    kind: str
    torch_prefix: str
    keras_shapes: dict[str, TensorShape]
    torch_shapes: dict[str, TensorShape]  # keys relative to torch_prefix
    to_torch: Callable[..., dict[str, np.ndarray]]
    to_keras: Callable[..., dict[str, np.ndarray]]


def weight_table(spec: ModelSpec) -> list[LayerWeights]:
    """Every layer with weights, in model order, with its shapes on both sides.

    Walks the layers tracking the *input order* of the features (see ``layout``): a Flatten that Keras
    runs in (H, W, C) order sets it (one in (C, H, W) order, torch's own, leaves none: see
    ``ModelSpec.flatten_order``), a BatchNorm carries it through (its vectors are reordered), the next
    Dense or recurrent layer consumes it.
    """
    table: list[LayerWeights] = []
    order: np.ndarray | None = None
    for entry in spec.layer_shapes():
        layer, shape = entry.layer, entry.input
        weights = _layer_weights(layer, shape, order)
        if weights is not None:
            table.append(weights)
        if isinstance(layer, Flatten):
            order = hwc_index_of_chw(*_grid_of(shape).dims) if spec.flatten_order(layer) == "hwc" else None
        elif not isinstance(layer, KEEP_FEATURE_ORDER):
            order = None
    return table


RECURRENT_CLASSES = (LSTM, GRU, SimpleRNN)
KEEP_FEATURE_ORDER = (BatchNorm, Dropout, Activation, Masking)  # per-feature or element-wise: the order passes through


def _grid_of(shape: Shape) -> Grid:
    assert isinstance(shape, (Frames, Grid)), shape  # what the spec gives a 2D layer
    return shape.grid if isinstance(shape, Frames) else shape


def _features(shape: Shape) -> int:
    assert isinstance(shape, (Steps, Vector)), shape  # what the spec gives a Dense or recurrent layer
    return shape.features


def _layer_weights(layer: Layer, shape: Shape, order: np.ndarray | None) -> LayerWeights | None:
    prefix = f"layers.{layer.name}."
    if isinstance(layer, (Conv2D, Conv3D)):
        cin, window = _grid_of(shape).channels, layer.kernel_size
        keras_shapes = {"kernel": (*window, cin, layer.filters)}
        torch_shapes = {"weight": (layer.filters, cin, *window)}
        _add_bias(layer.use_bias, keras_shapes, torch_shapes, layer.filters)
        return LayerWeights(layer.name, layer.kind, prefix, keras_shapes, torch_shapes, conv.keras_to_torch, conv.torch_to_keras)
    if isinstance(layer, Dense):
        n_in = _features(shape)
        keras_shapes, torch_shapes = {"kernel": (n_in, layer.units)}, {"weight": (layer.units, n_in)}
        _add_bias(layer.use_bias, keras_shapes, torch_shapes, layer.units)
        return LayerWeights(
            layer.name, "dense", prefix, keras_shapes, torch_shapes,
            partial(dense.keras_to_torch, input_order=order), partial(dense.torch_to_keras, input_order=order),
        )  # fmt: skip
    if isinstance(layer, BatchNorm):
        n = layer.features(shape)
        names = [*(["gamma"] if layer.scale else []), *(["beta"] if layer.center else []), "moving_mean", "moving_variance"]
        keras_shapes = {name: (n,) for name in names}
        torch_shapes = {batch_norm.KERAS_TO_TORCH[name]: (n,) for name in names}
        return LayerWeights(
            layer.name, "batch_norm", prefix, keras_shapes, torch_shapes,
            partial(batch_norm.keras_to_torch, input_order=order), partial(batch_norm.torch_to_keras, input_order=order),
        )  # fmt: skip
    if isinstance(layer, ConvLSTM2D):
        cin, (kh, kw), f = _grid_of(shape).channels, layer.kernel_size, layer.filters
        keras_shapes = {"kernel": (kh, kw, cin, 4 * f), "recurrent_kernel": (kh, kw, f, 4 * f)}
        torch_shapes = {"weight_ih": (4 * f, cin, kh, kw), "weight_hh": (4 * f, f, kh, kw)}
        _add_bias(layer.use_bias, keras_shapes, torch_shapes, 4 * f)
        return LayerWeights(
            layer.name, "conv_lstm2d", prefix, keras_shapes, torch_shapes, conv_lstm.keras_to_torch, conv_lstm.torch_to_keras
        )
    if isinstance(layer, RECURRENT_CLASSES):
        return _recurrent_weights(layer, _features(shape), order, prefix)
    if isinstance(layer, Bidirectional):
        return _bidirectional_weights(layer, _features(shape), order, prefix)
    return None


def _add_bias(use_bias: bool, keras_shapes: dict[str, TensorShape], torch_shapes: dict[str, TensorShape], size: int) -> None:
    if use_bias:
        keras_shapes["bias"] = (size,)
        torch_shapes["bias"] = (size,)


def _recurrent_shapes(layer: RecurrentLayer, n_in: int) -> tuple[dict[str, TensorShape], dict[str, TensorShape], bool]:
    """Keras and torch shapes of one direction, and whether Keras keeps two biases (GRU reset_after)."""
    g, u = layer.gates * layer.units, layer.units
    split_bias = isinstance(layer, GRU) and layer.reset_after
    keras_shapes: dict[str, TensorShape] = {"kernel": (n_in, g), "recurrent_kernel": (u, g)}
    torch_shapes: dict[str, TensorShape] = {"weight_ih_l0": (g, n_in), "weight_hh_l0": (g, u)}
    if layer.use_bias:
        keras_shapes["bias"] = (2, g) if split_bias else (g,)
        torch_shapes.update(bias_ih_l0=(g,), bias_hh_l0=(g,))
    return keras_shapes, torch_shapes, split_bias


def _recurrent_weights(layer: RecurrentLayer, n_in: int, order: np.ndarray | None, prefix: str) -> LayerWeights:
    keras_shapes, torch_shapes, split_bias = _recurrent_shapes(layer, n_in)
    return LayerWeights(
        layer.name, layer.kind, prefix, keras_shapes, torch_shapes,
        partial(recurrent.keras_to_torch, kind=layer.kind, input_order=order),
        partial(recurrent.torch_to_keras, kind=layer.kind, input_order=order, split_bias=split_bias),
    )  # fmt: skip


def _bidirectional_weights(layer: Bidirectional, n_in: int, order: np.ndarray | None, prefix: str) -> LayerWeights:
    """The inner layer twice: Keras ``forward/<var>`` and ``backward/<var>``, torch ``<param>`` and ``<param>_reverse``."""
    inner = _recurrent_weights(layer.layer, n_in, order, prefix)
    keras_shapes = {f"{side}/{key}": s for side, _ in DIRECTIONS for key, s in inner.keras_shapes.items()}
    torch_shapes = {f"{key}{suffix}": s for _, suffix in DIRECTIONS for key, s in inner.torch_shapes.items()}

    def to_torch(**arrays: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for side, suffix in DIRECTIONS:
            one = inner.to_torch(**{key: arrays[f"{side}/{key}"] for key in inner.keras_shapes})
            out.update({f"{key}{suffix}": value for key, value in one.items()})
        return out

    def to_keras(**arrays: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for side, suffix in DIRECTIONS:
            one = inner.to_keras(**{key: arrays[f"{key}{suffix}"] for key in inner.torch_shapes})
            out.update({f"{side}/{key}": value for key, value in one.items()})
        return out

    return LayerWeights(layer.name, "bidirectional", prefix, keras_shapes, torch_shapes, to_torch, to_keras)


MERGED_BIASES = (("bias", "bias_ih_l0", "bias_hh_l0"), ("forward/bias", "bias_ih_l0", "bias_hh_l0"),
                 ("backward/bias", "bias_ih_l0_reverse", "bias_hh_l0_reverse"))  # fmt: skip
NON_TRAINABLE = ("moving_mean", "moving_variance")  # Keras variables that are statistics, not trained


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
        if array.dtype.kind != "f":
            raise WeightMismatchError(f"{what}: tensor {key!r} has dtype {array.dtype}, expected a floating-point dtype")
        out[key] = array.astype(np.float32, copy=False)
    return out


def _describe(shapes: Mapping[str, TensorShape]) -> str:
    return ", ".join(f"{key} {shape}" for key, shape in shapes.items())
