"""Layout facts shared by the converters, written down once.

Keras flattens a frame in (height, width, channels) order, torch in (channels, height, width).
(In a channels_first Keras model, a Flatten left at ``data_format="channels_last"`` flattens
(channels, height, width) like torch, and nothing is reordered.)
The features after a flatten are therefore the same numbers in a different order; the converter
reorders the input rows of the next layer that mixes features (Dense, a recurrent layer's input
kernel) and the per-feature vectors of any BatchNorm in between, once, so the torch model can use
its natural flatten with no permute in the forward pass.

An *input order* ``p`` says: torch feature ``j`` is Keras feature ``p[j]`` (``None``: the same order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def hwc_index_of_chw(height: int, width: int, channels: int) -> np.ndarray:
    """``p`` with ``chw_features == hwc_features[p]``: for each torch (C, H, W) flat index, the Keras (H, W, C) one."""
    # Lay the HWC flat indices out as a (H, W, C) grid, move to (C, H, W), read in order.
    return np.arange(height * width * channels).reshape(height, width, channels).transpose(2, 0, 1).reshape(-1)


def rows_from_keras(keras_rows: np.ndarray, order: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """Keras-ordered rows (first axis: features) in torch's feature order."""
    return keras_rows if order is None else keras_rows[np.asarray(order)]


def rows_to_keras(torch_rows: np.ndarray, order: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """torch-ordered rows (first axis: features) in Keras' feature order (the inverse of :func:`rows_from_keras`)."""
    return torch_rows if order is None else torch_rows[np.argsort(order)]
