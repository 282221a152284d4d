"""The description of one training run, as frozen dataclasses (no torch import).

``TrainConfig.trajectory()`` names the settings that decide the trained weights; ``--resume``
refuses a checkpoint made with different ones, so a resumed run ends where an uninterrupted one would.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from lstm2d.train.errors import TrainError

BUILTIN_SOURCES: tuple[str, ...] = ("sensor-grid", "moving-digits", "moving-pattern")
MODEL_SOURCES: tuple[str, ...] = ("preset", "spec", "keras")
LAYOUTS: tuple[str, ...] = ("channels_last", "channels_first")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
AMP_MODES: tuple[str, ...] = ("off", "bf16", "fp16")
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine", "onecycle")

ModelSourceKind = Literal["preset", "spec", "keras"]
Layout = Literal["channels_last", "channels_first"]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise TrainError(message)


@dataclass(frozen=True)
class ModelSource:
    """Where the model comes from: a preset name, a ModelSpec JSON file, or a Keras file (``.keras`` / ``.h5``)."""

    kind: ModelSourceKind
    value: str

    def __post_init__(self) -> None:
        _check(self.kind in MODEL_SOURCES, f"model source: expected one of {MODEL_SOURCES}, got {self.kind!r}")

    @property
    def fresh(self) -> bool:
        """Whether training starts from freshly initialised weights (a preset or spec), not a Keras file's."""
        return self.kind != "keras"


@dataclass(frozen=True)
class DataConfig:
    """Which data to train on, and for the built-in sources, how much and in what shape.

    ``source`` is ``sensor-grid``, ``moving-digits``, ``moving-pattern`` or the path of a ``.npz`` file. ``samples`` (train +
    validation), ``timesteps`` and ``frame`` (height, width) only apply to the built-in sources, which
    generate data in the model's input shape unless told otherwise. ``layout`` is how the ``.npz`` file holds
    frames and grids: ``channels_last`` (N, T, H, W, C), as Keras' default, or ``channels_first`` (N, T, C, H, W);
    ``None``: as the model's Keras form has them (its ``data_format``).
    """

    source: str
    samples: int | None = None
    val_fraction: float = 0.2
    timesteps: int | None = None
    frame: tuple[int, int] | None = None
    layout: Layout | None = None

    def __post_init__(self) -> None:
        _check(0.0 < self.val_fraction < 1.0, f"--val-fraction: expected a number between 0 and 1, got {self.val_fraction}")
        _check(self.layout is None or self.layout in LAYOUTS, f"--layout: expected one of {LAYOUTS}, got {self.layout!r}")
        if self.builtin:
            _check(self.samples is None or self.samples >= 2, f"--samples: expected at least 2, got {self.samples}")
            _check(self.timesteps is None or self.timesteps >= 1, f"--timesteps: expected at least 1, got {self.timesteps}")
            _check(self.frame is None or min(self.frame) >= 1, f"--frame: expected positive sizes, got {self.frame}")
        else:
            for name, value in (("--samples", self.samples), ("--timesteps", self.timesteps), ("--frame", self.frame)):
                _check(
                    value is None, f"{name} only applies to the built-in sources {BUILTIN_SOURCES}; a .npz file fixes its data"
                )

    @property
    def builtin(self) -> bool:
        return self.source in BUILTIN_SOURCES


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``batch_size`` is the global batch: with N processes, each takes ``batch_size / N``."""

    model: ModelSource
    data: DataConfig
    out: Path
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: Literal["constant", "cosine", "onecycle"] = "constant"
    clip_grad_norm: float | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["off", "bf16", "fp16"] = "off"
    compile: bool = False
    workers: int | None = None
    seed: int = 0
    resume: bool = False
    export_keras: Path | None = None

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"--epochs: expected at least 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"--batch-size: expected at least 1, got {self.batch_size}")
        _check(math.isfinite(self.lr) and self.lr > 0, f"--lr: expected a positive number, got {self.lr}")
        _check(self.weight_decay >= 0, f"--weight-decay: expected >= 0, got {self.weight_decay}")
        _check(self.lr_schedule in LR_SCHEDULES, f"--lr-schedule: expected one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        _check(
            self.clip_grad_norm is None or self.clip_grad_norm > 0,
            f"--clip-grad-norm: expected a positive number, got {self.clip_grad_norm}",
        )
        _check(self.device in DEVICES, f"--device: expected one of {DEVICES}, got {self.device!r}")
        _check(self.amp in AMP_MODES, f"--amp: expected one of {AMP_MODES}, got {self.amp!r}")
        _check(self.workers is None or self.workers >= 0, f"--workers: expected >= 0, got {self.workers}")

    def trajectory(self) -> dict[str, Any]:
        """The settings that decide the weights a run ends with, as JSON-ready data."""
        return {
            "model": asdict(self.model),
            "data": {**asdict(self.data), "frame": list(self.data.frame) if self.data.frame else None},
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "lr_schedule": self.lr_schedule,
            "clip_grad_norm": self.clip_grad_norm,
            "amp": self.amp,
            "seed": self.seed,
        }
