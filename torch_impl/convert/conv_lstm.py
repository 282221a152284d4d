"""Keras ``ConvLSTM2D`` <-> lstm2d's ``ConvLSTM2d``; gates i, f, c, o on both sides.

kernel            (kh, kw, in, 4F)  <->  weight_ih (4F, in, kh, kw)
recurrent_kernel  (kh, kw, F, 4F)   <->  weight_hh (4F, F, kh, kw)
bias              (4F,)             <->  bias (4F,)   (absent with use_bias=False)
"""

from __future__ import annotations

import numpy as np

from torch_impl.convert.conv import kernel_to_keras, kernel_to_torch


def keras_to_torch(kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray | None = None) -> dict[str, np.ndarray]:
    out = {"weight_ih": kernel_to_torch(kernel), "weight_hh": kernel_to_torch(recurrent_kernel)}
    if bias is not None:
        out["bias"] = bias.copy()
    return out


def torch_to_keras(weight_ih: np.ndarray, weight_hh: np.ndarray, bias: np.ndarray | None = None) -> dict[str, np.ndarray]:
    out = {"kernel": kernel_to_keras(weight_ih), "recurrent_kernel": kernel_to_keras(weight_hh)}
    if bias is not None:
        out["bias"] = bias.copy()
    return out
