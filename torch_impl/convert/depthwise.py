"""Keras ``DepthwiseConv2D`` / ``SeparableConv2D`` <-> torch's grouped ``nn.Conv2d`` (``groups=in``).

Keras depthwise kernel (kh, kw, in, m) <-> torch weight (in * m, 1, kh, kw): output channel ``c * m + k`` is filter
``k`` of input channel ``c`` on both sides, so Keras' last two axes flatten in order (channel major) into torch's
output axis. ``SeparableConv2D`` adds a ``pointwise_kernel`` (1, 1, in * m, filters), a Conv2D kernel (see ``conv``),
and its ``bias`` (filters,) after it: torch ``depthwise.weight``, ``pointwise.weight``, ``pointwise.bias``.
"""

from __future__ import annotations

import numpy as np

from torch_impl.convert.conv import kernel_to_keras, kernel_to_torch


def depthwise_to_torch(kernel: np.ndarray) -> np.ndarray:
    """(kh, kw, in, m) -> (in * m, 1, kh, kw)."""
    kh, kw, channels, multiplier = kernel.shape
    return kernel_to_torch(kernel.reshape(kh, kw, 1, channels * multiplier))


def depthwise_to_keras(weight: np.ndarray, depth_multiplier: int) -> np.ndarray:
    """(in * m, 1, kh, kw) -> (kh, kw, in, m)."""
    kh, kw = weight.shape[2:]
    return np.ascontiguousarray(kernel_to_keras(weight).reshape(kh, kw, -1, depth_multiplier))


def keras_to_torch(kernel: np.ndarray, bias: np.ndarray | None = None) -> dict[str, np.ndarray]:
    out = {"weight": depthwise_to_torch(kernel)}
    if bias is not None:
        out["bias"] = bias.copy()
    return out


def torch_to_keras(weight: np.ndarray, bias: np.ndarray | None = None, *, depth_multiplier: int) -> dict[str, np.ndarray]:
    out = {"kernel": depthwise_to_keras(weight, depth_multiplier)}
    if bias is not None:
        out["bias"] = bias.copy()
    return out


def separable_to_torch(
    depthwise_kernel: np.ndarray, pointwise_kernel: np.ndarray, bias: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    out = {"depthwise.weight": depthwise_to_torch(depthwise_kernel), "pointwise.weight": kernel_to_torch(pointwise_kernel)}
    if bias is not None:
        out["pointwise.bias"] = bias.copy()
    return out


def separable_to_keras(*, depth_multiplier: int, **torch_state: np.ndarray) -> dict[str, np.ndarray]:
    """``torch_state``: ``depthwise.weight``, ``pointwise.weight`` and (with a bias) ``pointwise.bias``."""
    out = {
        "depthwise_kernel": depthwise_to_keras(torch_state["depthwise.weight"], depth_multiplier),
        "pointwise_kernel": kernel_to_keras(torch_state["pointwise.weight"]),
    }
    if "pointwise.bias" in torch_state:
        out["bias"] = torch_state["pointwise.bias"].copy()
    return out
