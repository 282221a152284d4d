"""Keras ``Conv2D`` <-> torch ``nn.Conv2d``.

Keras kernel (kh, kw, in, out) <-> torch weight (out, in, kh, kw); bias (out,) on both sides.
"""

from __future__ import annotations

import numpy as np


def keras_to_torch(kernel: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    return {"weight": np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), "bias": bias.copy()}


def torch_to_keras(weight: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    return {"kernel": np.ascontiguousarray(weight.transpose(2, 3, 1, 0)), "bias": bias.copy()}
