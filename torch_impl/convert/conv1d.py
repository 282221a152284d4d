"""Keras ``Conv1D`` / ``Conv1DTranspose`` <-> torch ``nn.Conv1d`` / ``nn.ConvTranspose1d``, input channels in torch's order.

    Conv1D           kernel (k, in, filters)  <->  weight (filters, in, k)    (``conv``'s rule)
    Conv1DTranspose  kernel (k, filters, in)  <->  weight (in, filters, k)    (the same rule: the two last axes to the front)
    bias (filters,) on both sides (absent with ``use_bias=False``)

A 1D layer reading a sequence takes its features as channels; where torch holds them in another order (after a flatten
of channels-first frames, see ``layout``), the kernel's input-channel axis (``input_axis``: 1 for Conv1D, 2 for
Conv1DTranspose) is permuted once, as a Dense kernel's rows are.
"""

from __future__ import annotations

import numpy as np

from torch_impl.convert import conv
from torch_impl.convert.layout import rows_from_keras, rows_to_keras


def keras_to_torch(
    kernel: np.ndarray, bias: np.ndarray | None = None, *, input_axis: int, input_order: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    kernel = np.moveaxis(rows_from_keras(np.moveaxis(kernel, input_axis, 0), input_order), 0, input_axis)
    return conv.keras_to_torch(kernel, bias)


def torch_to_keras(
    weight: np.ndarray, bias: np.ndarray | None = None, *, input_axis: int, input_order: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    out = conv.torch_to_keras(weight, bias)
    kernel = np.moveaxis(rows_to_keras(np.moveaxis(out["kernel"], input_axis, 0), input_order), 0, input_axis)
    out["kernel"] = np.ascontiguousarray(kernel)
    return out
