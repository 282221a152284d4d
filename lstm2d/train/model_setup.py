"""The model to train: a preset, spec file or Keras file, fitted to the data's shape and task."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

import torch_impl
from lstm2d.presets import get_preset
from lstm2d.spec import InputSpec, ModelSpec, Shape, SpecError, describe_shape, dims_text
from lstm2d.train.config import ModelSource
from lstm2d.train.data import Task, TrainValData
from lstm2d.train.data.dataset import has_time_axis, stored_channels_first
from lstm2d.train.errors import TrainError
from lstm2d.train.spec_edit import adapt_spec, output_activation


@dataclass(frozen=True)
class BaseModel:
    """The model as given: its spec, and for a Keras file its weights (``None``: start from fresh weights)."""

    spec: ModelSpec
    state: dict[str, torch.Tensor] | None


@dataclass(frozen=True)
class PreparedModel:
    """The model to train (on the CPU, initial weights), what was changed to fit the data, and whether each output
    (in order) is a softmax's probabilities rather than logits or values."""

    model: torch_impl.Lstm2dNet
    notes: list[str]
    probabilities: list[bool]


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


def _output_kind(shape: Shape) -> str:
    return OUTPUT_KINDS.get(shape.rank, f"rank-{shape.rank}")


def _target_kind(task: Task) -> str:
    return "frames" if task.kind == "frames" else "timestep" if task.per_timestep else "sample"


def prepare_model(base: BaseModel, data: TrainValData, *, seed: int) -> PreparedModel:
    """Build the model for ``data``: input shapes and output units from the data; weights fresh (seeded) or the base's.

    A fresh model (preset or spec) takes the data's input shapes; a time axis the model leaves open stays open. A Keras
    model keeps every axis its weights depend on (only the time axis of its inputs may differ) and every weight whose
    shape still fits; only an output layer resized for the task starts fresh, and the notes name it. Outputs pair with
    the data's targets in order.
    """
    spec = base.spec
    shapes = spec.output_shapes()
    for index, ((name, task), shape) in enumerate(zip(data.tasks.items(), shapes, strict=True)):
        model_says, data_says = _output_kind(shape), _target_kind(task)
        where = f" at output {name!r}" if len(shapes) > 1 else ""
        if model_says != data_says:
            hint = (
                "use a model that returns frames, e.g. --preset next-frame"
                if task.kind == "frames"
                else "set return_sequences on the last recurrent layer to match (or reshape y)"
            )
            said = MODEL_SAYS.get(model_says, f"a {model_says} output")
            raise TrainError(f"the model gives {said}{where} but the data has {DATA_SAYS[data_says]}; {hint}")
        if task.kind == "regression" and output_activation(spec, index) == "softmax":
            raise TrainError(
                f"the model ends in a softmax{where}, which suits classification, but the data is regression (float y)"
            )
    if base.state is not None:
        _check_fixed_axes(spec, data.inputs)
    # An input whose time axis the model leaves open keeps it open: the trained model takes any sequence length.
    inputs = [
        replace(given, shape=(None, *given.shape[1:])) if own.shape[0] is None else given
        for own, given in zip(spec.inputs, data.inputs, strict=True)
    ]
    try:
        adapted = adapt_spec(spec, inputs=inputs, units=[task.units for task in data.tasks.values()])
    except SpecError as exc:
        raise TrainError(f"the data's shapes do not fit model {spec.name!r}: {exc}") from None
    frames = data.inputs[0].per_sample
    for task, shape in zip(data.tasks.values(), adapted.output_shapes(), strict=True):
        if task.kind == "frames" and (shape.dims[1:] != frames.dims[1:] or shape.time not in (None, frames.time)):
            raise TrainError(
                f"the model's output frames (time, height, width, channels) = {shape.dims} differ from the target "
                f"frames {frames.dims}; next-frame models keep the frame size (padding='same', stride 1)"
            )
    torch.manual_seed(seed)
    model = torch_impl.build_model(adapted)
    notes = _describe_changes(spec, adapted, data)
    if base.state is not None:
        fresh = _load_fitting(model, base.state)
        if fresh:
            notes.append(f"fresh weights (do not fit the task): {', '.join(fresh)}")
    probabilities = [output_activation(adapted, index) == "softmax" for index in range(len(adapted.outputs))]
    return PreparedModel(model, notes, probabilities)


def _check_fixed_axes(spec: ModelSpec, data_inputs: tuple[InputSpec, ...]) -> None:
    """A Keras model's weights fit only its inputs' shapes: every axis but the time axis must match the data's."""
    for model_input, data_input in zip(spec.inputs, data_inputs, strict=True):
        model_dims, data_dims = model_input.shape, data_input.shape
        skip = 1 if has_time_axis(model_input) else 0
        if len(model_dims) != len(data_dims) or model_dims[skip:] != data_dims[skip:]:
            layout = " (for an .npz, check --layout)" if stored_channels_first(model_input.shape, model_input.dtype) else ""
            free = "; the time axis may differ" if skip else ""
            raise TrainError(
                f"the Keras model's input {model_input.name!r} is {describe_shape(model_input.per_sample)} per sample, "
                f"the data has {dims_text(data_input.per_sample)}; its weights fit only that shape{free}{layout}"
            )


def _describe_changes(before: ModelSpec, after: ModelSpec, data: TrainValData) -> list[str]:
    notes = []
    for old, new in zip(before.inputs, after.inputs, strict=True):
        if old != new:
            change = f"{dims_text(old.per_sample)} -> {dims_text(new.per_sample)}"
            notes.append(f"input {old.name!r}: {change} per sample, from the data")
    for name, old_shape, task in zip(before.outputs, before.output_shapes(), data.tasks.values(), strict=True):
        if old_shape.dims[-1] != task.units:
            notes.append(f"output {name!r} units: {old_shape.dims[-1]} -> {task.units}, for the task")
    return notes


def for_model(data: TrainValData, model: torch_impl.Lstm2dNet) -> TrainValData:
    """``data`` in the layouts ``model`` reads and writes: frames and grids stay channels first where the model reads
    them so (inputs of spatial layers, and every one of a channels_first Keras model's), and move to channels last
    elsewhere (as Keras has them); frame targets follow the model's frame outputs likewise."""
    keras_first = model.spec.data_format == "channels_first"
    inputs = [
        i.name for i, spatial in zip(model.spec.inputs, model.spatial_inputs, strict=True)
        if stored_channels_first(i.shape, i.dtype) and not (spatial or keras_first)
    ]  # fmt: skip
    targets = [
        name for (name, task), spatial in zip(data.tasks.items(), model.spatial_outputs, strict=True)
        if task.kind == "frames" and not (spatial or keras_first)
    ]  # fmt: skip
    if not inputs and not targets:
        return data
    return replace(data, train=data.train.relayout(inputs, targets), val=data.val.relayout(inputs, targets))


def _load_fitting(model: torch_impl.Lstm2dNet, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy every tensor of ``state`` whose name and shape fit ``model``; return the names of those left fresh."""
    target = model.state_dict()
    fitting = {key: value for key, value in state.items() if key in target and target[key].shape == value.shape}
    model.load_state_dict({**target, **fitting})
    return sorted(set(target) - set(fitting))
