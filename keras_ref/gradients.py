"""Gradients of a loss through the reference Keras model, on whichever backend Keras runs.

One entry point, :func:`loss_gradients`, with one function per backend behind it: TensorFlow's
``GradientTape``, ``jax.grad`` over ``model.stateless_call``, and autograd on Keras' torch backend.
The loss is a fixed linear function of the outputs, ``sum_k sum(output_k * cotangent_k)``, so the
gradients are the vector-Jacobian product with the cotangents: non-trivial at every output element.

The backend library is imported inside its own function (it is Keras' backend, already loaded by
``import keras``); ``torch_impl`` never is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from keras_ref.weights import KerasWeights, variables_by_path
from lstm2d.spec import ModelSpec

Arrays = dict[str, np.ndarray]
BackendGradients = tuple[Arrays, list[np.ndarray]]  # d loss / d each float input, d loss / d each trainable variable


def loss_gradients(
    model: keras.Model,
    spec: ModelSpec,
    inputs: np.ndarray | Mapping[str, np.ndarray],
    cotangents: Sequence[np.ndarray],
    *,
    training: bool = False,
) -> tuple[Arrays, KerasWeights]:
    """Gradients of ``sum_k sum(output_k * cotangents[k])`` with respect to the inputs and every trainable weight.

    ``inputs`` in the model's layout (``(B, T, H, W, C)``, or ``(B, T, C, H, W)`` channels_first): one array, or a
    dict by input name (boolean masks included); ``cotangents``: one array per model output, each of that output's
    shape. Returns the gradient of each float input by name (the inputs' layout) and the weight gradients as
    ``{layer path: {variable name: array}}`` in Keras layout, like ``keras_ref.get_weights`` (trainable variables
    only: a BatchNormalization's moving statistics have none). ``training`` selects the layers' training-mode
    semantics (batch statistics; moving averages are not updated here).
    """
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(f"no gradient function for Keras backend {backend!r}; expected one of {sorted(BACKENDS)}")
    given = dict(inputs) if isinstance(inputs, Mapping) else {spec.input.name: inputs}
    arrays = {i.name: np.asarray(given[i.name], np.bool_ if i.dtype == "bool" else np.float32) for i in spec.inputs}
    trainable = list(model.trainable_variables)
    cotangents = [np.asarray(c, np.float32) for c in cotangents]
    input_grads, grads = BACKENDS[backend](model, arrays, cotangents, training)
    # by variable object: Keras' variable paths leave out the models a layer is nested in, so an outer layer ``lstm``
    # and a nested model's layer ``lstm`` both have the variable path ``lstm/lstm_cell/kernel``
    by_variable = {id(variable): grad for variable, grad in zip(trainable, grads, strict=True)}
    out: KerasWeights = {}
    for path, variables in variables_by_path(model, spec).items():
        trained = {name: by_variable[id(v)] for name, v in variables.items() if v.trainable}
        if trained:
            out[path] = trained
    return input_grads, out


def _structured(inputs: Mapping[str, Any]) -> Any:
    """The inputs as the model was built to take them: the one tensor of a one-input model (a dict would make Keras
    warn that the structure differs), else the dict by input name."""
    return next(iter(inputs.values())) if len(inputs) == 1 else inputs


def _floats(arrays: Arrays) -> list[str]:
    return [name for name, array in arrays.items() if array.dtype != np.bool_]


def _linear_loss(outputs: Any, cotangents: list[np.ndarray], multiply_sum: Callable[[Any, np.ndarray], Any]) -> Any:
    """``sum_k multiply_sum(outputs[k], cotangents[k])``, in the backend's tensors (``outputs``: one tensor or a list)."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if len(outputs) != len(cotangents):
        raise ValueError(f"the model has {len(outputs)} outputs, got {len(cotangents)} cotangents")
    terms = [multiply_sum(output, cotangent) for output, cotangent in zip(outputs, cotangents, strict=True)]
    return sum(terms[1:], terms[0])


def _tensorflow(model: keras.Model, inputs: Arrays, cotangents: list[np.ndarray], training: bool) -> BackendGradients:
    import tensorflow as tf

    x = {name: tf.convert_to_tensor(array) for name, array in inputs.items()}
    floats = _floats(inputs)
    trainable = model.trainable_variables
    with tf.GradientTape() as tape:
        for name in floats:
            tape.watch(x[name])
        loss = _linear_loss(model(_structured(x), training=training), cotangents, lambda o, c: tf.reduce_sum(o * c))
    grads = tape.gradient(loss, [*(x[name] for name in floats), *trainable])
    input_grads = {name: _numpy(g, inputs[name]) for name, g in zip(floats, grads, strict=False)}
    return input_grads, [_numpy(g, v) for g, v in zip(grads[len(floats) :], trainable, strict=True)]


def _jax(model: keras.Model, inputs: Arrays, cotangents: list[np.ndarray], training: bool) -> BackendGradients:
    import jax
    import jax.numpy as jnp

    trainable_values = [v.value for v in model.trainable_variables]
    non_trainable_values = [v.value for v in model.non_trainable_variables]
    floats = _floats(inputs)
    masks = {name: jnp.asarray(array) for name, array in inputs.items() if name not in floats}

    def loss(trainable: list[jax.Array], x: dict[str, jax.Array]) -> jax.Array:
        outputs, _ = model.stateless_call(trainable, non_trainable_values, _structured({**x, **masks}), training=training)
        return _linear_loss(outputs, cotangents, lambda o, c: jnp.sum(o * c))

    float_inputs = {name: jnp.asarray(inputs[name]) for name in floats}
    weight_grads, input_grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(trainable_values, float_inputs)
    return {name: np.asarray(g) for name, g in input_grads.items()}, [np.asarray(g) for g in weight_grads]


def _torch(model: keras.Model, inputs: Arrays, cotangents: list[np.ndarray], training: bool) -> BackendGradients:
    import torch  # Keras' torch backend (already loaded by `import keras`), not torch_impl

    floats = _floats(inputs)
    x = {name: keras.ops.convert_to_tensor(array) for name, array in inputs.items()}
    for name in floats:
        x[name].requires_grad_(True)
    trainable = model.trainable_variables
    outputs = model(_structured(x), training=training)
    loss = _linear_loss(outputs, cotangents, lambda o, c: (o * keras.ops.convert_to_tensor(c)).sum())
    grads = torch.autograd.grad(loss, [*(x[name] for name in floats), *(v.value for v in trainable)], allow_unused=True)
    input_grads = {name: _numpy(g, inputs[name]) for name, g in zip(floats, grads, strict=False)}
    return input_grads, [_numpy(g, v) for g, v in zip(grads[len(floats) :], trainable, strict=True)]


def _numpy(grad: object, like: np.ndarray | keras.Variable) -> np.ndarray:
    """A gradient as float32 numpy; ``None`` (the loss does not depend on it) as zeros of ``like``'s shape."""
    if grad is None:
        return np.zeros(tuple(like.shape), np.float32)
    return np.asarray(keras.ops.convert_to_numpy(grad), np.float32)


BACKENDS: dict[str, Callable[[keras.Model, Arrays, list[np.ndarray], bool], BackendGradients]] = {
    "tensorflow": _tensorflow,
    "jax": _jax,
    "torch": _torch,
}
