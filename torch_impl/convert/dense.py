"""Keras ``Dense`` <-> torch ``nn.Linear``.

Keras kernel (in, out) <-> torch weight (out, in); bias (out,) on both sides.
"""

from __future__ import annotations

import numpy as np


def keras_to_torch(kernel: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    return {"weight": np.ascontiguousarray(kernel.T), "bias": bias.copy()}


def torch_to_keras(weight: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    return {"kernel": np.ascontiguousarray(weight.T), "bias": bias.copy()}
