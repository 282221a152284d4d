"""A user's ``.npz`` file: arrays ``x`` (samples) and ``y`` (targets), checked before anything is trained.

``x``: (N, T, H, W, C) in Keras' layout (``--layout channels_last``, the default) or (N, T, C, H, W)
(``--layout channels_first``); any float or integer dtype, converted to float32.
``y`` decides the task by its dtype and shape:

- float: regression. (N,) one value per sample; (N, K) K values per sample; (N, T, K) K values per timestep.
- integer: classification with classes 0..max(y). (N,) one class per sample; (N, T) one per timestep.

Files are read with ``allow_pickle=False``: object arrays are refused, nothing in the file runs.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from lstm2d.train.data.dataset import Task, TrainValData, make_split
from lstm2d.train.errors import DataError

AXES = {"channels_last": "(N, T, H, W, C)", "channels_first": "(N, T, C, H, W)"}


def load(path: Path, *, layout: str, val_fraction: float, seed: int) -> TrainValData:
    """The file's samples as channels-first float32, its targets, the task they imply, split at random (seeded)."""
    x, y = _read(path)
    x = _check_x(x, layout, path)
    task, y = _check_y(y, x, path)
    return make_split(
        x,
        y,
        task,
        val_fraction=val_fraction,
        seed=seed,
        description=f"{path.name}: {len(x)} samples of {x.shape[1]} frames of {x.shape[3]}x{x.shape[4]}x{x.shape[2]}",
        fingerprint=f"npz sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}",
    )


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: expected a .npz archive (np.savez) with arrays x and y, found a single .npy array")
        with loaded as archive:
            names = sorted(archive.files)
            if "x" not in names or "y" not in names:
                raise DataError(f"{path}: expected arrays 'x' and 'y', found {names}")
            return archive["x"], archive["y"]
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        if "Object arrays" in str(exc):
            raise DataError(f"{path}: holds object arrays, which need pickle to load; expected numeric arrays") from None
        raise DataError(f"{path}: expected a .npz archive (np.savez), found something else ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def _check_x(x: np.ndarray, layout: str, path: Path) -> np.ndarray:
    """``x`` as float32 (N, T, C, H, W)."""
    if x.ndim != 5:
        hint = " (a batch of single frames? add a time axis: x[:, None])" if x.ndim == 4 else ""
        raise DataError(f"{path}: x: expected 5 axes {AXES[layout]} for --layout {layout}, found shape {x.shape}{hint}")
    if x.dtype.kind not in "fiu":
        raise DataError(f"{path}: x: expected a float or integer dtype, found {x.dtype}")
    if min(x.shape) == 0:
        raise DataError(f"{path}: x: expected a non-empty array {AXES[layout]}, found shape {x.shape}")
    _check_finite(x, "x", path)
    return np.ascontiguousarray((x.transpose(0, 1, 4, 2, 3) if layout == "channels_last" else x).astype(np.float32))


def _check_y(y: np.ndarray, x: np.ndarray, path: Path) -> tuple[Task, np.ndarray]:
    n, timesteps = x.shape[:2]
    if y.ndim == 0 or len(y) != n:
        found = "a scalar" if y.ndim == 0 else f"{len(y)}"
        raise DataError(f"{path}: y: expected one target per sample, {n} as in x, found {found} (y shape {y.shape})")
    if y.dtype.kind == "f":
        _check_finite(y, "y", path)
        if y.ndim == 1:
            return Task("regression", 1, per_timestep=False), y[:, None]
        if y.ndim == 2:
            return Task("regression", y.shape[1], per_timestep=False), y
        if y.ndim == 3 and y.shape[1] == timesteps:
            return Task("regression", y.shape[2], per_timestep=True), y
        raise DataError(
            f"{path}: y: expected float targets (N,), (N, K) or (N, T, K) with T = {timesteps} as in x, found shape {y.shape}"
        )
    if y.dtype.kind in "iu":
        if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == timesteps)):
            raise DataError(f"{path}: y: expected integer class ids (N,) or (N, T) with T = {timesteps}, found shape {y.shape}")
        if y.min() < 0:
            raise DataError(f"{path}: y: expected class ids 0, 1, 2, ..., found {y.min()}")
        classes = int(y.max()) + 1
        if classes < 2:
            raise DataError(f"{path}: y: expected at least 2 classes, found only class 0")
        return Task("classification", classes, per_timestep=y.ndim == 2), y.astype(np.int64)
    raise DataError(
        f"{path}: y: expected float targets (regression) or integer class ids (classification), found dtype {y.dtype}"
    )


def _check_finite(array: np.ndarray, name: str, path: Path) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = ~np.isfinite(array)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: {name}: expected finite values, found {int(bad.sum())} NaN/Inf, the first at index {first}")
