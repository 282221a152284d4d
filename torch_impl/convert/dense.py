"""Keras ``Dense`` <-> torch ``nn.Linear``.

Keras kernel (in, out) <-> torch weight (out, in); bias (out,) on both sides (absent with ``use_bias=False``).
``input_order`` (see ``layout``) reorders the input features when the Dense follows a flatten.
"""

from __future__ import annotations

import numpy as np

from torch_impl.convert.layout import rows_from_keras, rows_to_keras


def keras_to_torch(
    kernel: np.ndarray, bias: np.ndarray | None = None, *, input_order: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    out = {"weight": np.ascontiguousarray(rows_from_keras(kernel, input_order).T)}
    if bias is not None:
        out["bias"] = bias.copy()
    return out


def torch_to_keras(
    weight: np.ndarray, bias: np.ndarray | None = None, *, input_order: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    out = {"kernel": np.ascontiguousarray(rows_to_keras(weight.T, input_order))}
    if bias is not None:
        out["bias"] = bias.copy()
    return out
