"""Building the torch model for a spec, with Keras' default initial weights (or torch's).

A model trained from scratch should start like the Keras model would. Keras' defaults, per variable
(``keras/src/initializers``): kernels ``glorot_uniform`` (a separable convolution's depthwise and pointwise kernels
too, each with its own fans), recurrent kernels
``orthogonal``, biases zeros (LSTM and ConvLSTM2D with ``unit_forget_bias``: the forget gate's block is
ones), BatchNorm gamma 1, beta 0, moving mean 0, moving variance 1 (LayerNormalization's and GroupNormalization's
gamma and beta alike, RMSNormalization's scale 1), PReLU's alpha 0, an adapted Normalization's mean 0, variance 1,
count 0. They are drawn in Keras' layout, with Keras' fan-in / fan-out, and loaded through the same converter as
trained Keras weights, so every layout rule (gate order, flatten order, bias split) applies unchanged.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from lstm2d.spec import ModelSpec
from torch_impl.model import InputLayout, Lstm2dNet
from torch_impl.weight_table import KerasWeights, weight_table
from torch_impl.weights import load_keras_weights


def glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Keras ``GlorotUniform``: U(-l, l), l = sqrt(6 / (fan_in + fan_out)); a kernel (*window, in, out) counts its window."""
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def orthogonal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Keras ``Orthogonal`` (gain 1): the kernel as (prod(shape[:-1]), shape[-1]) with orthonormal rows or columns."""
    rows, cols = math.prod(shape[:-1]), shape[-1]
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))  # a unique, uniformly distributed Q
    if rows < cols:
        q = q.T
    return q.reshape(shape).astype(np.float32)


def keras_initial_weights(spec: ModelSpec, rng: np.random.Generator) -> KerasWeights:
    """Every weight of ``spec``'s Keras model as Keras' default initializers draw it, in Keras layout."""
    weights: KerasWeights = {}
    for entry in weight_table(spec):
        forget_bias = any(getattr(layer, "unit_forget_bias", False) for layer in (entry.layer, *entry.layer.sublayers()))
        arrays = {}
        for name, shape in entry.keras_shapes.items():
            variable = name.rsplit("/", 1)[-1]  # a Bidirectional's forward/kernel -> kernel
            if variable in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                arrays[name] = glorot_uniform(shape, rng)
            elif variable == "recurrent_kernel":
                arrays[name] = orthogonal(shape, rng)
            elif variable in ("gamma", "moving_variance", "variance", "scale"):
                arrays[name] = np.ones(shape, np.float32)
            else:  # bias, beta, moving_mean
                arrays[name] = np.zeros(shape, np.float32)
                if variable == "bias" and forget_bias:
                    block = shape[-1] // 4
                    arrays[name][..., block : 2 * block] = 1.0  # gates i, f, c, o: the forget gate's block
        weights[entry.name] = arrays
    return weights


def init_like_keras_(model: Lstm2dNet, generator: torch.Generator | None = None) -> Lstm2dNet:
    """Replace ``model``'s weights by Keras' default initial weights (seeded from torch's RNG, or ``generator``)."""
    seed = int(torch.randint(0, 2**63 - 1, (1,), generator=generator).item())
    load_keras_weights(model, keras_initial_weights(model.spec, np.random.default_rng(seed)))
    return model


def build_model(
    spec: ModelSpec, *, input_layout: InputLayout = "channels_first", init: Literal["keras", "torch"] = "keras"
) -> Lstm2dNet:
    """The torch model for ``spec``, with Keras' default initial weights (``init="keras"``, drawn from torch's
    RNG, so ``torch.manual_seed`` makes them reproducible) or torch's own (``init="torch"``)."""
    model = Lstm2dNet(spec, input_layout=input_layout)
    if init == "keras":
        init_like_keras_(model)
    elif init != "torch":
        raise ValueError(f"init: expected 'keras' or 'torch', got {init!r}")
    return model
