"""Layout facts shared by the converters, written down once.

Keras flattens a frame in (height, width, channels) order, torch in (channels, height, width).
The features entering the first LSTM are therefore the same numbers in a different order;
the converter permutes the rows of that LSTM's input kernel once, so the torch model can use
its natural flatten with no permute in the forward pass.
"""

from __future__ import annotations

import numpy as np


def hwc_index_of_chw(height: int, width: int, channels: int) -> np.ndarray:
    """``p`` with ``chw_features == hwc_features[p]``: for each torch (C, H, W) flat index, the Keras (H, W, C) one."""
    # Lay the HWC flat indices out as a (H, W, C) grid, move to (C, H, W), read in order.
    return np.arange(height * width * channels).reshape(height, width, channels).transpose(2, 0, 1).reshape(-1)


def chw_index_of_hwc(height: int, width: int, channels: int) -> np.ndarray:
    """The inverse permutation: ``hwc_features == chw_features[q]``."""
    return np.argsort(hwc_index_of_chw(height, width, channels))
