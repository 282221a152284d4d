"""The model to train: a preset, spec file or Keras file, fitted to the data's shape and task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

import torch_impl
from lstm2d.presets import get_preset
from lstm2d.spec import InputSpec, ModelSpec
from lstm2d.train.config import ModelSource
from lstm2d.train.data import Task, TrainValData
from lstm2d.train.errors import TrainError
from lstm2d.train.spec_edit import adapt_spec, final_activation


@dataclass(frozen=True)
class BaseModel:
    """The model as given: its spec, and for a Keras file its weights (``None``: start from fresh weights)."""

    spec: ModelSpec
    state: dict[str, torch.Tensor] | None


@dataclass(frozen=True)
class PreparedModel:
    """The model to train (on the CPU, initial weights), and what was changed to fit the data."""

    model: torch_impl.Lstm2dNet
    notes: list[str]


def load_base(source: ModelSource) -> BaseModel:
    """Read the model ``source`` names; a Keras file is vetted and read without Keras (``torch_impl.from_keras``)."""
    if source.kind == "preset":
        return BaseModel(get_preset(source.value), None)
    path = Path(source.value)
    if source.kind == "spec":
        try:
            return BaseModel(ModelSpec.from_json(path.read_text(encoding="utf-8")), None)
        except OSError as exc:
            raise TrainError(f"--spec: cannot read {path}: {exc.strerror}") from None
    try:
        model = torch_impl.from_keras(path)
    except torch_impl.ModelFileError as exc:
        raise TrainError(f"--from-keras: {exc}") from None
    return BaseModel(model.spec, {key: value.detach().clone() for key, value in model.state_dict().items()})


OUTPUT_KINDS = {1: "sample", 2: "timestep", 3: "grid", 4: "frames"}  # by the rank of the per-sample output
MODEL_SAYS = {"sample": "one output per sample", "timestep": "one output per timestep", "grid": "one grid per sample",
              "frames": "a frame per timestep"}  # fmt: skip
DATA_SAYS = {"sample": "one target per sample", "timestep": "one target per timestep", "frames": "a frame per timestep"}


def _output_kind(spec: ModelSpec) -> str:
    return OUTPUT_KINDS[len(spec.output_shape())]


def _target_kind(task: Task) -> str:
    return "frames" if task.kind == "frames" else "timestep" if task.per_timestep else "sample"


def returns_sequences(spec: ModelSpec) -> bool:
    """Whether the model gives an output per timestep, ``(T, units)``, rather than per sample, ``(units,)``."""
    return len(spec.output_shape()) == 2


def prepare_model(base: BaseModel, data: TrainValData, *, seed: int) -> PreparedModel:
    """Build the model for ``data``: input shape and output units from the data; weights fresh (seeded) or the base's.

    A Keras model keeps its frame shape (its weights depend on it) and every weight whose shape still fits;
    only an output layer resized for the task starts fresh, and the notes name it.
    """
    task = data.task
    model_says, data_says = _output_kind(base.spec), _target_kind(task)
    if model_says != data_says:
        hint = (
            "use a model that returns frames, e.g. --preset next-frame"
            if task.kind == "frames"
            else "set return_sequences on the last recurrent layer to match (or reshape y)"
        )
        raise TrainError(f"the model gives {MODEL_SAYS[model_says]} but the data has {DATA_SAYS[data_says]}; {hint}")
    if task.kind == "regression" and final_activation(base.spec) == "softmax":
        raise TrainError("the model ends in a softmax, which suits classification, but the data is regression (float y)")
    if base.state is not None:
        _check_frame(base.spec.input, data.input)
    spec = adapt_spec(base.spec, input=data.input, units=task.units)
    if task.kind == "frames" and spec.output_shape() != data.input.shape:
        raise TrainError(
            f"the model's output frames (time, height, width, channels) = {spec.output_shape()} differ from the target "
            f"frames {data.input.shape}; next-frame models keep the frame size (padding='same', stride 1)"
        )
    torch.manual_seed(seed)
    model = torch_impl.build_model(spec)
    notes = _describe_changes(base.spec, spec, task.units)
    if base.state is not None:
        fresh = _load_fitting(model, base.state)
        if fresh:
            notes.append(f"fresh weights (do not fit the task): {', '.join(fresh)}")
    return PreparedModel(model, notes)


def _check_frame(model_input: InputSpec, data_input: InputSpec) -> None:
    model_frame = (model_input.height, model_input.width, model_input.channels)
    data_frame = (data_input.height, data_input.width, data_input.channels)
    if model_frame != data_frame:
        raise TrainError(
            f"the Keras model reads frames (height, width, channels) = {model_frame}, the data has {data_frame}; "
            "its weights fit only that frame (for an .npz, check --layout; built-in sources follow the model unless --frame)"
        )


def _describe_changes(before: ModelSpec, after: ModelSpec, units: int) -> list[str]:
    notes = []
    if before.input != after.input:
        old, new = before.input, after.input
        notes.append(
            f"input (timesteps, height, width, channels): ({old.timesteps}, {old.height}, {old.width}, {old.channels}) -> "
            f"({new.timesteps}, {new.height}, {new.width}, {new.channels}), from the data"
        )
    if before.output_shape()[-1] != units:
        notes.append(f"output units: {before.output_shape()[-1]} -> {units}, for the task")
    return notes


def _load_fitting(model: torch_impl.Lstm2dNet, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy every tensor of ``state`` whose name and shape fit ``model``; return the names of those left fresh."""
    target = model.state_dict()
    fitting = {key: value for key, value in state.items() if key in target and target[key].shape == value.shape}
    model.load_state_dict({**target, **fitting})
    return sorted(set(target) - set(fitting))
