"""In-memory training data: samples ``(T, C, H, W)``, their targets, and what the targets mean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from lstm2d.spec import InputSpec
from lstm2d.train.errors import DataError

TaskKind = Literal["regression", "classification", "frames"]


@dataclass(frozen=True)
class Task:
    """What a target is.

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


class GridDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Samples ``x`` (N, T, C, H, W) float32 and targets ``y`` (N, ...) as the task says; item ``i`` is ``(x[i], y[i])``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.ndim != 5 or x.dtype != torch.float32:
            raise ValueError(f"x: expected float32 (N, T, C, H, W), got {x.dtype} {tuple(x.shape)}")
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        self.x = x
        self.y = y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


@dataclass(frozen=True)
class TrainValData:
    """A data set split for training: every sample has the shape ``input`` describes (channels-first in ``x``)."""

    train: GridDataset
    val: GridDataset
    task: Task
    input: InputSpec
    description: str
    fingerprint: str  # identifies the data for --resume: generator version and settings, or a file's sha256


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
    x: np.ndarray, y: np.ndarray, task: Task, *, val_fraction: float, seed: int, description: str, fingerprint: str
) -> TrainValData:
    """Split ``x`` (N, T, C, H, W) and ``y`` at random (seeded) into train and validation sets."""
    _, n_val = split_sizes(len(x), val_fraction)
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:n_val], order[n_val:]
    return TrainValData(
        train=to_dataset(x[train], y[train], task),
        val=to_dataset(x[val], y[val], task),
        task=task,
        input=InputSpec.frames(timesteps=x.shape[1], height=x.shape[3], width=x.shape[4], channels=x.shape[2]),
        description=description,
        fingerprint=fingerprint,
    )


def to_dataset(x: np.ndarray, y: np.ndarray, task: Task) -> GridDataset:
    """Tensors for ``x`` (N, T, C, H, W) and ``y``: float32 targets for regression, int64 class ids for classification."""
    y_dtype = torch.int64 if task.kind == "classification" else torch.float32
    return GridDataset(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y)).to(y_dtype))
