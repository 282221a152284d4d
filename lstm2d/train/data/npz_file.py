"""A user's ``.npz`` file: an array per model input and a target per model output, checked before anything is trained.

Inputs, by the model's input names (a model of one input may call its array ``x``), each ``(N, ...)``, the shape of one
sample as the Keras model reads it:

- frames ``(N, T, H, W, C)`` and grids ``(N, H, W, C)`` as Keras' channels_last has them, or ``(N, T, C, H, W)`` /
  ``(N, C, H, W)`` with layout ``channels_first`` (the default layout is the model's ``data_format``);
- sequences ``(N, T, F)``, vectors ``(N, F)``; any float or integer dtype, converted to float32;
- masks ``(N, T)``, boolean (True: a real step), for the model's mask inputs.

Targets: ``y`` for a model of one output, else ``y_<output name>`` for each output (the names ``lstm2d inspect``
lists). Each decides its output's task by its dtype and shape:

- float: regression. (N,) one value per sample; (N, K) K values per sample; (N, T, K) K values per timestep.
- integer: classification with classes 0..max(y). (N,) one class per sample; (N, T) one per timestep.

Files are read with ``allow_pickle=False``: object arrays are refused, nothing in the file runs.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from lstm2d.spec import InputSpec, ModelSpec, dims_text
from lstm2d.train.data.dataset import Task, TrainValData, has_time_axis, make_split, stored_channels_first
from lstm2d.train.errors import DataError

AXES = {
    ("channels_last", 4): "(N, T, H, W, C)",
    ("channels_first", 4): "(N, T, C, H, W)",
    ("channels_last", 3): "(N, H, W, C)",
    ("channels_first", 3): "(N, C, H, W)",
}
PLAIN_AXES = {1: "(N, F)", 2: "(N, T, F)"}


def load(path: Path, spec: ModelSpec, *, layout: str, val_fraction: float, seed: int) -> TrainValData:
    """The file's samples for every input of ``spec`` (frames and grids stored channels first, see ``SampleSet``), a
    target per output and the task each implies, split at random (seeded)."""
    arrays = _read(path)
    input_keys, target_keys = _keys(spec, arrays)
    expected = [*input_keys, *target_keys]
    missing, extra = [k for k in expected if k not in arrays], sorted(set(arrays) - set(expected))
    if missing or extra:
        problems = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
        raise DataError(
            f"{path}: expected the arrays {expected}, found {sorted(arrays)}: {'; '.join(problems)} (inputs: x or the input's "
            f"name for a model of one input, else one array per input name; targets: y for a model of one output, else "
            f"y_<output name> per output)"
        )
    inputs, shapes = {}, []
    for key, spec_input in input_keys.items():
        inputs[spec_input.name], shape = _check_input(arrays[key], key, spec_input, layout, path)
        shapes.append(shape)
    counts = {key: arrays[key].shape[0] if arrays[key].ndim else None for key in expected}
    n = len(inputs[spec.inputs[0].name])
    if any(count != n for count in counts.values()):
        found = ", ".join(f"{key} {'a scalar' if count is None else count}" for key, count in counts.items())
        raise DataError(f"{path}: expected the same number of samples in every array, {n} as in {expected[0]}, found {found}")
    timesteps = next((shape.shape[0] for shape in shapes if has_time_axis(shape)), None)
    tasks, targets = {}, {}
    for key, output in target_keys.items():
        tasks[output], targets[output] = _check_y(arrays[key], key, timesteps, path)
    described = ", ".join(f"{shape.name} {dims_text(shape.per_sample)}" for shape in shapes)
    return make_split(
        inputs,
        targets,
        tasks,
        tuple(shapes),
        val_fraction=val_fraction,
        seed=seed,
        description=f"{path.name}: {n} samples of {described}",
        fingerprint=f"npz sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}",
    )


def _keys(spec: ModelSpec, arrays: dict[str, np.ndarray]) -> tuple[dict[str, InputSpec], dict[str, str]]:
    """The array name of every input (``{array name: input}``) and every target (``{array name: output name}``): a
    model of one input reads ``x`` unless the file names the input, one of one output ``y`` unless it has ``y_<output>``."""
    inputs = {i.name: i for i in spec.inputs}
    if len(spec.inputs) == 1 and spec.inputs[0].name not in arrays:
        inputs = {"x": spec.inputs[0]}
    targets = {f"y_{ref}": ref for ref in spec.outputs}
    if len(spec.outputs) == 1 and f"y_{spec.outputs[0]}" not in arrays:
        targets = {"y": spec.outputs[0]}
    return inputs, targets


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: expected a .npz archive (np.savez) of named arrays, found a single .npy array")
        with loaded as archive:
            return {name: archive[name] for name in archive.files}
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


def _check_input(array: np.ndarray, key: str, spec_input: InputSpec, layout: str, path: Path) -> tuple[np.ndarray, InputSpec]:
    """The array of one input as stored for training (float32, frames and grids channels first; masks bool), and one
    sample's shape in spec terms (channels last)."""
    where = f"{path}: {key}"
    rank = len(spec_input.shape) + 1
    frames = stored_channels_first(spec_input.shape, spec_input.dtype)
    if spec_input.dtype == "bool":
        axes = "(N, T)"
        if array.dtype != np.bool_ or array.ndim != 2:
            raise DataError(
                f"{where}: expected a boolean mask (N, T) for the mask input {spec_input.name!r} (True: a real step), "
                f"found {array.dtype} of shape {array.shape}"
            )
    else:
        axes = AXES[(layout, rank - 1)] + f" for --layout {layout}" if frames else PLAIN_AXES.get(rank - 1, f"({rank} axes)")
        if array.ndim != rank:
            hint = " (a batch of single frames? add a time axis: x[:, None])" if rank == 5 and array.ndim == 4 else ""
            raise DataError(
                f"{where}: expected {rank} axes {axes} for input {spec_input.name!r} "
                f"({dims_text(spec_input.per_sample)} per sample), found shape {array.shape}{hint}"
            )
        if array.dtype.kind not in "fiu":
            raise DataError(f"{where}: expected a float or integer dtype, found {array.dtype}")
    if min(array.shape) == 0:
        raise DataError(f"{where}: expected a non-empty array {axes}, found shape {array.shape}")
    _check_finite(array, key, path)
    if spec_input.dtype == "bool":
        return array, InputSpec(array.shape[1:], spec_input.name, "bool")
    array = array.astype(np.float32)
    if frames and layout == "channels_last":
        array = np.moveaxis(array, -1, -3)  # (..., H, W, C) -> (..., C, H, W)
    dims = array.shape[1:]
    if frames:
        *outer, channels, height, width = dims
        dims = (*outer, height, width, channels)
    return np.ascontiguousarray(array), InputSpec(tuple(dims), spec_input.name)


def _check_y(y: np.ndarray, key: str, timesteps: int | None, path: Path) -> tuple[Task, np.ndarray]:
    """A target's task and its values (regression ``(N, K)`` or ``(N, T, K)``; class ids int64)."""
    where, steps = f"{path}: {key}", "T" if timesteps is None else f"T = {timesteps} as in the inputs"
    per_timestep = timesteps is None or y.shape[1:2] == (timesteps,)
    if y.dtype.kind == "f":
        _check_finite(y, key, path)
        if y.ndim == 1:
            return Task("regression", 1, per_timestep=False), y[:, None]
        if y.ndim == 2:
            return Task("regression", y.shape[1], per_timestep=False), y
        if y.ndim == 3 and per_timestep:
            return Task("regression", y.shape[2], per_timestep=True), y
        raise DataError(f"{where}: expected float targets (N,), (N, K) or (N, T, K) with {steps}, found shape {y.shape}")
    if y.dtype.kind in "iu":
        if not (y.ndim == 1 or (y.ndim == 2 and per_timestep)):
            raise DataError(f"{where}: expected integer class ids (N,) or (N, T) with {steps}, found shape {y.shape}")
        if y.min() < 0:
            raise DataError(f"{where}: expected class ids 0, 1, 2, ..., found {y.min()}")
        classes = int(y.max()) + 1
        if classes < 2:
            raise DataError(f"{where}: expected at least 2 classes, found only class 0")
        return Task("classification", classes, per_timestep=y.ndim == 2), y.astype(np.int64)
    raise DataError(f"{where}: expected float targets (regression) or integer class ids (classification), found dtype {y.dtype}")


def _check_finite(array: np.ndarray, name: str, path: Path) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = ~np.isfinite(array)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: {name}: expected finite values, found {int(bad.sum())} NaN/Inf, the first at index {first}")
