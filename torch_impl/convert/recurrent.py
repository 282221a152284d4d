"""Keras ``LSTM`` / ``GRU`` / ``SimpleRNN`` <-> torch ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (one direction).

    Keras                              torch
    kernel            (in, G*U)   <->  weight_ih_l0 (G*U, in)   transpose, gate blocks reordered
    recurrent_kernel  (U, G*U)    <->  weight_hh_l0 (G*U, U)    transpose, gate blocks reordered
    bias              (G*U,)       ->  bias_ih_l0 = bias, bias_hh_l0 = 0
    bias = bias_ih_l0 + bias_hh_l0 <-  (float32 sum)
    bias (2, G*U) [GRU reset_after] <-> bias_ih_l0 = bias[0], bias_hh_l0 = bias[1]   (exact both ways)

Gate blocks: LSTM i, f, c, o on both sides (torch calls c g); GRU Keras z, r, h vs torch r, z, n;
SimpleRNN one block. Keras has one bias (G*U,) except GRU with ``reset_after=True``, whose second row
is the recurrent bias that torch's ``nn.GRU`` also has (inside the reset gate's product). With one
Keras bias, Keras -> torch -> Keras is bit-exact and torch -> Keras merges torch's two biases into
their float32 sum (outputs agree to rounding): torch -> Keras -> torch returns the sum in
``bias_ih_l0`` and zeros in ``bias_hh_l0``. For GRU ``reset_after=False`` the merge is exact too, because
lstm2d's cell adds the candidate's recurrent bias outside the reset gate (Keras has none there).

``input_order`` (see ``layout``) reorders the input features when the layer follows a flatten.
"""

from __future__ import annotations

import numpy as np

from torch_impl.convert.layout import rows_from_keras, rows_to_keras

GATE_ORDER_TO_TORCH = {"lstm": (0, 1, 2, 3), "gru": (1, 0, 2), "simple_rnn": (0,)}
"""For each torch gate block, the Keras block it comes from (GRU: torch r, z, n = Keras r, z, h = blocks 1, 0, 2)."""


def _gates_to_torch(matrix: np.ndarray, kind: str) -> np.ndarray:
    """Reorder the gate blocks along the last axis from Keras' order to torch's."""
    blocks = np.split(matrix, len(GATE_ORDER_TO_TORCH[kind]), axis=-1)
    return np.concatenate([blocks[k] for k in GATE_ORDER_TO_TORCH[kind]], axis=-1)


def _gates_to_keras(matrix: np.ndarray, kind: str) -> np.ndarray:
    order = GATE_ORDER_TO_TORCH[kind]
    blocks = np.split(matrix, len(order), axis=-1)
    return np.concatenate([blocks[order.index(k)] for k in range(len(order))], axis=-1)


def keras_to_torch(
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    kind: str,
    input_order: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    out = {
        "weight_ih_l0": np.ascontiguousarray(_gates_to_torch(rows_from_keras(kernel, input_order), kind).T),
        "weight_hh_l0": np.ascontiguousarray(_gates_to_torch(recurrent_kernel, kind).T),
    }
    if bias is not None:
        if bias.ndim == 2:  # GRU reset_after: (input bias, recurrent bias)
            out["bias_ih_l0"] = _gates_to_torch(bias[0], kind).copy()
            out["bias_hh_l0"] = _gates_to_torch(bias[1], kind).copy()
        else:
            out["bias_ih_l0"] = _gates_to_torch(bias, kind).copy()
            out["bias_hh_l0"] = np.zeros_like(bias)
    return out


def torch_to_keras(
    weight_ih_l0: np.ndarray,
    weight_hh_l0: np.ndarray,
    bias_ih_l0: np.ndarray | None = None,
    bias_hh_l0: np.ndarray | None = None,
    *,
    kind: str,
    input_order: np.ndarray | None = None,
    split_bias: bool = False,
) -> dict[str, np.ndarray]:
    """``split_bias``: keep the two biases as Keras' (2, G*U) bias (GRU ``reset_after=True``); else sum them."""
    out = {
        "kernel": np.ascontiguousarray(rows_to_keras(_gates_to_keras(weight_ih_l0.T, kind), input_order)),
        "recurrent_kernel": np.ascontiguousarray(_gates_to_keras(weight_hh_l0.T, kind)),
    }
    if bias_ih_l0 is not None and bias_hh_l0 is not None:
        if split_bias:
            out["bias"] = np.stack([_gates_to_keras(bias_ih_l0, kind), _gates_to_keras(bias_hh_l0, kind)])
        else:
            out["bias"] = _gates_to_keras(bias_ih_l0 + bias_hh_l0, kind)
    return out
