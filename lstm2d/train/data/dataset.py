"""In-memory training data: every model input by name, every target by output name, and what each target means."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from lstm2d.spec import InputSpec
from lstm2d.train.errors import DataError

TaskKind = Literal["regression", "classification", "frames"]
Sample = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]
"""One sample (or, batched by a DataLoader, a batch): inputs by input name, targets by output name."""


@dataclass(frozen=True)
class Task:
    """What one output's target is.

    Regression: ``units`` float values per sample, target ``(units,)``, or per timestep ``(T, units)``.
    Classification: ``units`` classes, target one int64 class id per sample ``()``, or per timestep ``(T,)``.
    The model's output is ``(units,)`` or ``(T, units)`` (scores or values) in both cases.
    Frames: the next frame at every timestep, target ``(T, C, H, W)`` with ``units = C`` channels, like the
    model's frame output; a regression of every cell, whose trivial baseline is persistence (this frame).
    """

    kind: TaskKind
    units: int
    per_timestep: bool

    def describe(self) -> str:
        if self.kind == "frames":
            return f"next-frame prediction ({self.units} channel(s)) at every timestep"
        what = f"{self.units}-class classification" if self.kind == "classification" else f"regression of {self.units} value(s)"
        return f"{what} per {'timestep' if self.per_timestep else 'sample'}"


def stored_channels_first(shape: tuple[int | None, ...], dtype: str) -> bool:
    """Whether an input of this per-sample shape is frames or a grid, which training data stores channels first:
    ``(N, T, C, H, W)`` or ``(N, C, H, W)`` (the inputs whose Keras layout follows the model's ``data_format``)."""
    return dtype != "bool" and len(shape) in (3, 4)


def has_time_axis(spec_input: InputSpec) -> bool:
    """Whether the input's first axis is time: frames, sequences, masks, or any input whose first axis is left open."""
    return spec_input.dtype == "bool" or len(spec_input.shape) in (2, 4) or spec_input.shape[0] is None


class SampleSet(Dataset[Sample]):
    """``inputs`` by input name and ``targets`` by output name, ``(N, ...)`` each; item ``i`` is sample ``i`` of every one.

    Inputs: frames and grids channels first (see :func:`stored_channels_first`; :meth:`relayout` moves some to channels
    last), sequences ``(N, T, F)`` and vectors ``(N, F)`` float32, masks ``(N, T)`` bool. Targets: float32 values
    (regression; frames ``(N, T, C, H, W)``), or int64 class ids (classification).
    """

    def __init__(self, inputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> None:
        sizes = {name: len(array) for name, array in (*inputs.items(), *targets.items())}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"every input and target needs the same number of samples, got {sizes}")
        for name, x in inputs.items():
            if x.dtype not in (torch.float32, torch.bool):
                raise ValueError(f"input {name!r}: expected float32 (or a bool mask), got {x.dtype}")
        self.inputs = dict(inputs)
        self.targets = dict(targets)
        self.size = next(iter(sizes.values()))

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Sample:
        return {k: v[index] for k, v in self.inputs.items()}, {k: v[index] for k, v in self.targets.items()}

    def relayout(self, inputs: Collection[str], targets: Collection[str]) -> SampleSet:
        """These samples with the named frame inputs and targets moved to channels last, ``(N, ..., H, W, C)``."""

        def last(array: torch.Tensor) -> torch.Tensor:
            return array.movedim(-3, -1).contiguous()

        return SampleSet(
            {k: last(v) if k in inputs else v for k, v in self.inputs.items()},
            {k: last(v) if k in targets else v for k, v in self.targets.items()},
        )


@dataclass(frozen=True)
class TrainValData:
    """A data set split for training.

    ``inputs`` describes one sample of every input, in the model's input order (per-sample shapes as lstm2d's specs
    have them: channels last); ``tasks`` says what each target is, by output name in the model's output order.
    """

    train: SampleSet
    val: SampleSet
    inputs: tuple[InputSpec, ...]
    tasks: dict[str, Task]
    description: str
    fingerprint: str  # identifies the data for --resume: generator version and settings, or a file's sha256

    def describe_tasks(self) -> str:
        """``regression of 1 value(s) per sample``; with several outputs, each named."""
        if len(self.tasks) == 1:
            return next(iter(self.tasks.values())).describe()
        return "; ".join(f"{name}: {task.describe()}" for name, task in self.tasks.items())


def split_sizes(samples: int, val_fraction: float) -> tuple[int, int]:
    """``(train, validation)`` sample counts, at least one each."""
    n_val = round(samples * val_fraction)
    if n_val < 1 or samples - n_val < 1:
        raise DataError(
            f"cannot split {samples} sample(s) into train and validation with --val-fraction {val_fraction}: "
            "expected at least one sample on each side"
        )
    return samples - n_val, n_val


def make_split(
    inputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], tasks: dict[str, Task], shapes: tuple[InputSpec, ...],
    *, val_fraction: float, seed: int, description: str, fingerprint: str,
) -> TrainValData:  # fmt: skip
    """Split the samples (inputs stored as :class:`SampleSet` says) at random (seeded) into train and validation sets."""
    samples = len(next(iter(inputs.values())))
    _, n_val = split_sizes(samples, val_fraction)
    order = np.random.default_rng(seed).permutation(samples)
    val, train = order[:n_val], order[n_val:]

    def part(rows: np.ndarray) -> SampleSet:
        return to_dataset({k: v[rows] for k, v in inputs.items()}, {k: v[rows] for k, v in targets.items()}, tasks)

    return TrainValData(part(train), part(val), shapes, tasks, description, fingerprint)


def to_dataset(inputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], tasks: Mapping[str, Task]) -> SampleSet:
    """Tensors for ``inputs`` (float32, masks bool) and ``targets``: float32 values, or int64 class ids for
    classification (``tasks`` by target name)."""
    return SampleSet(
        {k: torch.from_numpy(np.ascontiguousarray(v, dtype=bool if v.dtype == bool else np.float32)) for k, v in inputs.items()},
        {
            k: torch.from_numpy(np.asarray(v)).to(torch.int64 if tasks[k].kind == "classification" else torch.float32)
            for k, v in targets.items()
        },
    )


def frames_data(
    shape: InputSpec, output: str, task: Task, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
    *, description: str, fingerprint: str,
) -> TrainValData:  # fmt: skip
    """The data of a built-in source: frames ``(N, T, C, H, W)`` for the input ``shape`` names, targets for ``output``."""
    tasks = {output: task}
    return TrainValData(
        train=to_dataset({shape.name: train[0]}, {output: train[1]}, tasks),
        val=to_dataset({shape.name: val[0]}, {output: val[1]}, tasks),
        inputs=(shape,),
        tasks=tasks,
        description=description,
        fingerprint=fingerprint,
    )
