"""Checkpoints that resume to the same weights an uninterrupted run ends with; no pickle anywhere.

``OUT/checkpoints/step-XXXXXXXX/`` holds

- ``model.safetensors``: the weights and the spec (``torch_impl.save_safetensors``);
- ``state.safetensors``: the optimizer's tensors (``optimizer.<param index>.<name>``) and the RNG states
  (``rng.cpu``, ``rng.cuda.<device>``);
- ``state.json``: everything else: position (epoch, batch within it, optimizer step), the optimizer's
  hyper-parameters, the LR scheduler's and gradient scaler's state, the epoch's running sums, the
  metrics history, and the run's settings (``TrainConfig.trajectory()``) and data fingerprint.

``OUT/checkpoints/latest.json`` names the newest complete one; it is replaced atomically after the
folder is complete, so an interrupted save leaves the previous checkpoint in charge. Loading reads
safetensors and JSON only (``torch.load`` is never called).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import torch_impl
from lstm2d.train.errors import CheckpointError

FORMAT = "lstm2d.train.checkpoint/1"
FOLDER = "checkpoints"
LATEST = "latest.json"
KEEP = 2  # complete checkpoints kept; older ones are removed


@dataclass
class Position:
    """Where training stands, plus what a resumed run needs to carry on exactly."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed in the epoch under way
    step: int = 0  # optimizer steps taken
    running: list[float] = field(default_factory=list)  # the epoch's [loss sum, metric sum, count] per output, flat; [] = 0
    elapsed_s: float = 0.0  # training time so far, over all sessions
    history: list[dict[str, float]] = field(default_factory=list)  # one row per completed epoch


@dataclass(frozen=True)
class Trainables:
    """What a checkpoint saves besides the position: the model and what steps it."""

    model: torch_impl.Lstm2dNet
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler


def has_checkpoint(out: Path) -> bool:
    return (out / FOLDER / LATEST).is_file()


def check_resumable(out: Path, *, resume: bool) -> None:
    """``--resume`` needs a checkpoint in ``out``; a new run must not silently mix with an earlier one."""
    if resume and not has_checkpoint(out):
        raise CheckpointError(f"--resume: no checkpoint in {out / FOLDER} (expected {LATEST}); start without --resume")
    if not resume and has_checkpoint(out):
        raise CheckpointError(f"{out} holds a checkpoint of an earlier run: add --resume to continue it, or use another --out")


def save(out: Path, parts: Trainables, position: Position, run: dict[str, Any]) -> Path:
    """Write a checkpoint of ``parts`` at ``position``; ``run`` (settings, data fingerprint) is checked on resume."""
    root = out / FOLDER
    name = f"step-{position.step:08d}"
    final = root / name
    if not final.is_dir():  # a complete folder for this step holds this very state already
        partial = root / (name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        torch_impl.save_safetensors(parts.model, partial / "model.safetensors")
        tensors, optimizer_json = _optimizer_state(parts.optimizer)
        tensors.update(_rng_state())
        save_file(tensors, str(partial / "state.safetensors"))
        state = {
            "format": FORMAT,
            "position": asdict(position),
            "optimizer": optimizer_json,
            "scheduler": parts.scheduler.state_dict(),
            "scaler": parts.scaler.state_dict(),
            "run": run,
        }
        (partial / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        partial.rename(final)
    _write_atomically(root / LATEST, json.dumps({"checkpoint": name}))
    _remove_old(root, keep=name)
    return final


def load(out: Path, parts: Trainables, run: dict[str, Any]) -> Position:
    """Restore ``parts`` and the RNG from ``out``'s newest checkpoint; refuse one made by a different run."""
    root = out / FOLDER
    try:
        name = json.loads((root / LATEST).read_text(encoding="utf-8"))["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"--resume: {root / LATEST} is unreadable ({exc!r})") from None
    folder = root / name
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "state.safetensors"))
        saved_model = torch_impl.load_safetensors(folder / "model.safetensors")
    except (OSError, ValueError, SafetensorError, torch_impl.ModelFileError) as exc:
        raise CheckpointError(f"--resume: checkpoint {folder} is unreadable: {exc}") from None
    if state.get("format") != FORMAT:
        raise CheckpointError(f"--resume: {folder} has format {state.get('format')!r}, expected {FORMAT!r}")
    _check_same_run(state["run"], run, folder)
    if saved_model.spec != parts.model.spec:
        raise CheckpointError(f"--resume: {folder} holds a model {saved_model.spec.name!r} of a different shape than this run's")
    parts.model.load_state_dict(saved_model.state_dict())
    _load_optimizer_state(parts.optimizer, tensors, state["optimizer"])
    parts.scheduler.load_state_dict(state["scheduler"])
    parts.scaler.load_state_dict(state["scaler"])
    _set_rng_state(tensors)
    return Position(**state["position"])


def _optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors as ``optimizer.<param index>.<name>``; the rest (hyper-parameters, non-tensor state) as JSON."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], saved: dict[str, Any]) -> None:
    per_param: dict[int, dict[str, Any]] = {int(index): dict(values) for index, values in saved["scalars"].items()}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    # JSON turned tuples (Adam's betas) into lists; "params" is a list of indices.
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()} for g in saved["param_groups"]]
    try:
        optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"--resume: the optimizer state does not fit this model: {exc}") from None


def _rng_state() -> dict[str, torch.Tensor]:
    states = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, value in enumerate(torch.cuda.get_rng_state_all()):
            states[f"rng.cuda.{index}"] = value
    return states


def _set_rng_state(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng.cpu"])
    cuda = sorted((key for key in tensors if key.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[key] for key in cuda][: torch.cuda.device_count()])


def _check_same_run(saved: dict[str, Any], current: dict[str, Any], folder: Path) -> None:
    """The settings that decide the weights must match; more epochs are fine with a constant learning rate."""
    saved, current = _flatten(json.loads(json.dumps(saved))), _flatten(json.loads(json.dumps(current)))  # same JSON types
    if saved.get("settings.lr_schedule") == current.get("settings.lr_schedule") == "constant":
        saved.pop("settings.epochs", None)
        current.pop("settings.epochs", None)
    differences = [
        f"{key}: checkpoint {saved.get(key, 'absent')!r}, now {current.get(key, 'absent')!r}"
        for key in sorted(saved.keys() | current.keys())
        if saved.get(key) != current.get(key)
    ]
    if differences:
        raise CheckpointError(
            f"--resume: {folder} was made by a different run ({'; '.join(differences)}); "
            "resume with the same settings, or train into a new --out"
        )


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _remove_old(root: Path, keep: str) -> None:
    complete = sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".partial"))
    for folder in complete[:-KEEP]:
        if folder.name != keep:
            shutil.rmtree(folder)
