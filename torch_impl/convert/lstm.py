"""Keras ``LSTM`` <-> torch ``nn.LSTM`` (one layer, unidirectional).

Both sides order the gates i, f, c (torch calls it g), o along the 4*units axis.

    Keras                              torch
    kernel            (in, 4U)    <->  weight_ih_l0 (4U, in)    transpose
    recurrent_kernel  (U, 4U)     <->  weight_hh_l0 (4U, U)     transpose
    bias              (4U,)        ->  bias_ih_l0 = bias, bias_hh_l0 = 0
    bias = bias_ih_l0 + bias_hh_l0 <-  bias_ih_l0, bias_hh_l0   (sum, float32)

Keras -> torch -> Keras is therefore bit-exact. torch -> Keras merges torch's two biases
into one (their float32 sum; outputs agree to rounding), so torch -> Keras -> torch returns
that sum in ``bias_ih_l0`` and zeros in ``bias_hh_l0``: bit-exact for every other tensor,
and for all of them once ``bias_hh_l0`` is zero (e.g. any model that came from Keras).

``input_order``, when given, reorders the input features: torch input feature ``j`` is
Keras input feature ``input_order[j]`` (used for the (H, W, C) vs (C, H, W) flatten).
"""

from __future__ import annotations

import numpy as np


def keras_to_torch(
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray,
    *,
    input_order: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    if input_order is not None:
        kernel = kernel[input_order]
    return {
        "weight_ih_l0": np.ascontiguousarray(kernel.T),
        "weight_hh_l0": np.ascontiguousarray(recurrent_kernel.T),
        "bias_ih_l0": bias.copy(),
        "bias_hh_l0": np.zeros_like(bias),
    }


def torch_to_keras(
    weight_ih_l0: np.ndarray,
    weight_hh_l0: np.ndarray,
    bias_ih_l0: np.ndarray,
    bias_hh_l0: np.ndarray,
    *,
    input_order: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    kernel = weight_ih_l0.T
    if input_order is not None:
        kernel = kernel[np.argsort(input_order)]
    return {
        "kernel": np.ascontiguousarray(kernel),
        "recurrent_kernel": np.ascontiguousarray(weight_hh_l0.T),
        "bias": bias_ih_l0 + bias_hh_l0,
    }
