"""Keras ``Conv2D`` / ``Conv3D`` <-> torch ``nn.Conv2d`` / ``nn.Conv3d``, and Keras ``Conv2DTranspose`` /
``Conv3DTranspose`` <-> torch ``nn.ConvTranspose2d`` / ``nn.ConvTranspose3d``.

Keras kernel (*window, in, out) <-> torch weight (out, in, *window): the channel axes move from the
back to the front; bias (out,) on both sides (absent with ``use_bias=False``). A transposed convolution's
kernel is its convolution's read the other way, Keras (*window, filters, in) <-> torch (in, filters, *window):
the same move, with no flip of the window.
"""

from __future__ import annotations

import numpy as np


def kernel_to_torch(kernel: np.ndarray) -> np.ndarray:
    """(*window, in, out) -> (out, in, *window)."""
    window = tuple(range(kernel.ndim - 2))
    return np.ascontiguousarray(kernel.transpose(kernel.ndim - 1, kernel.ndim - 2, *window))


def kernel_to_keras(weight: np.ndarray) -> np.ndarray:
    """(out, in, *window) -> (*window, in, out)."""
    window = tuple(range(2, weight.ndim))
    return np.ascontiguousarray(weight.transpose(*window, 1, 0))


def keras_to_torch(kernel: np.ndarray, bias: np.ndarray | None = None) -> dict[str, np.ndarray]:
    out = {"weight": kernel_to_torch(kernel)}
    if bias is not None:
        out["bias"] = bias.copy()
    return out


def torch_to_keras(weight: np.ndarray, bias: np.ndarray | None = None) -> dict[str, np.ndarray]:
    out = {"kernel": kernel_to_keras(weight)}
    if bias is not None:
        out["bias"] = bias.copy()
    return out
