"""Fitting a model to the data: spec edits over every preset, Keras weights kept where they fit, loss and baseline maths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torch_impl
from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import LSTM, Conv3D, ConvLSTM2D, Dense, Flatten, InputSpec, ModelSpec, Node, Steps, Vector
from lstm2d.train.config import ModelSource
from lstm2d.train.data import Task, TrainValData
from lstm2d.train.data.dataset import frames_data, make_split
from lstm2d.train.errors import TrainError
from lstm2d.train.model_setup import BaseModel, load_base, prepare_model
from lstm2d.train.objective import Evaluation, Objective, OutputObjective, Scores
from lstm2d.train.spec_edit import adapt_spec, output_activation
from tests.graph_models import TWO_HEADS

OPEN_SEQUENCES = ModelSpec(
    InputSpec.frames(None, 6, 5, 2), layers=(Flatten(), LSTM(4, return_sequences=True), LSTM(3, return_sequences=True))
)
SPECS = {name: get_preset(name) for name in preset_names()} | {"lstm-last-sequences": OPEN_SEQUENCES}


@pytest.mark.parametrize("units", [1, 10])
@pytest.mark.parametrize("name", SPECS)
def test_adapt_spec_sets_input_and_output_units(name, units):
    spec = SPECS[name]
    shape = InputSpec.frames(7, 12, 9, spec.input.channels)
    adapted = adapt_spec(spec, inputs=[shape], units=[units])
    assert adapted.input == shape
    assert adapted.output_shape()[-1] == units
    assert len(adapted.output_shape()) == len(spec.output_shape())  # per sample stays per sample
    assert adapted.name == spec.name
    model = torch_impl.build_model(adapted, input_layout="channels_last")  # outputs in Keras layout: units last
    assert model(torch.zeros(2, 7, 12, 9, spec.input.channels)).shape[-1] == units


@pytest.mark.parametrize("name", SPECS)
def test_adapt_spec_is_the_identity_when_the_spec_fits(name):
    spec = SPECS[name]
    assert adapt_spec(spec, inputs=spec.inputs, units=[spec.output_shape()[-1]]) == spec


def test_adapt_spec_keeps_the_output_layer_and_appends_only_after_an_lstm():
    spec = ModelSpec(
        InputSpec.frames(3, 4, 4, 1),
        layers=(Flatten(), LSTM(64), Dense(5, activation="relu", name="hidden"), Dense(1, activation="softmax", name="out")),
    )
    adapted = adapt_spec(spec, inputs=(), units=[4])
    dense = [layer for layer in adapted.layers if isinstance(layer, Dense)]
    assert [(d.name, d.units, d.activation) for d in dense] == [("hidden", 5, "relu"), ("out", 4, "softmax")]
    assert output_activation(adapted) == "softmax"
    appended = adapt_spec(OPEN_SEQUENCES, inputs=[InputSpec.frames(2, 6, 5, 2)], units=[10])
    assert appended.layers[:-1] == OPEN_SEQUENCES.layers
    assert (type(appended.layers[-1]), appended.layers[-1].units, appended.layers[-1].activation) == (Dense, 10, "linear")
    assert output_activation(OPEN_SEQUENCES) == "tanh"


def test_adapt_spec_sets_the_filters_of_a_frame_output():
    spec = ModelSpec(
        InputSpec.frames(3, 6, 6, 1),
        layers=(ConvLSTM2D(4, 3, padding="same", return_sequences=True), Conv3D(1, 3, padding="same")),
    )
    adapted = adapt_spec(spec, inputs=[InputSpec.frames(3, 6, 6, 2)], units=[2])
    assert adapted.layers[-1].filters == 2 and adapted.output_shape() == (3, 6, 6, 2)


def _data(task: Task, shape: InputSpec, n: int = 6) -> TrainValData:
    x = torch.zeros(n, shape.timesteps, shape.channels, shape.height, shape.width).numpy()
    if task.kind == "classification":
        y = (torch.arange(n * (shape.timesteps if task.per_timestep else 1)) % task.units).reshape(n, -1).squeeze(1).numpy()
    else:
        y = torch.zeros((n, shape.timesteps, task.units) if task.per_timestep else (n, task.units)).numpy()
    return frames_data(shape, "y", task, (x, y), (x, y), description="test data", fingerprint="test")


def _keras_file(tmp_path, spec: ModelSpec):
    torch.manual_seed(1)
    source = torch_impl.build_model(spec)
    path = tmp_path / "model.keras"
    torch_impl.to_keras(source, path)
    return path, torch_impl.from_keras(path).state_dict()


def test_keras_model_keeps_its_weights_and_gets_a_fresh_head_for_a_new_task(tmp_path):
    path, weights = _keras_file(tmp_path, get_preset("seed-cnn"))
    base = load_base(ModelSource("keras", str(path)))
    prepared = prepare_model(base, _data(Task("classification", 10, False), InputSpec.frames(5, 10, 10, 1)), seed=0)
    state = prepared.model.state_dict()
    fresh = sorted(key for key, value in state.items() if weights[key].shape != value.shape)
    assert len(fresh) == 2 and "output 'dense_1' units: 1 -> 10, for the task" in prepared.notes  # output weight, bias
    assert any(note.startswith("fresh weights") and all(key in note for key in fresh) for note in prepared.notes)
    for key, value in weights.items():
        if key not in fresh:
            assert torch.equal(state[key], value), key
    same_task = prepare_model(base, _data(Task("regression", 1, False), InputSpec.frames(5, 10, 10, 1)), seed=0)
    assert all(torch.equal(same_task.model.state_dict()[k], v) for k, v in weights.items())
    assert not any(note.startswith("fresh") for note in same_task.notes)


def test_keras_model_refuses_data_of_another_frame(tmp_path):
    path, _ = _keras_file(tmp_path, get_preset("seed-cnn"))
    base = load_base(ModelSource("keras", str(path)))
    with pytest.raises(
        TrainError,
        match=r"the Keras model's input 'frames' is frames \(time, height, width, channels\) = \(100, 10, 10, 1\) per "
        r"sample, the data has \(5, 10, 10, 3\); its weights fit only that shape; the time axis may differ \(for an .npz, "
        r"check --layout\)",
    ):
        prepare_model(base, _data(Task("regression", 1, False), InputSpec.frames(5, 10, 10, 3)), seed=0)


def test_fresh_models_are_seeded():
    data = _data(Task("regression", 1, False), InputSpec.frames(3, 10, 10, 1))
    base = load_base(ModelSource("preset", "seed-cnn"))
    first, again, other = (prepare_model(base, data, seed=s).model.state_dict() for s in (0, 0, 1))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_per_timestep_targets_need_a_sequence_model():
    data = _data(Task("regression", 1, per_timestep=True), InputSpec.frames(3, 10, 10, 1))
    with pytest.raises(TrainError, match="the model gives one output per sample but the data has one target per timestep"):
        prepare_model(load_base(ModelSource("preset", "seed-flat")), data, seed=0)


def test_regression_refuses_a_softmax_output():
    spec = ModelSpec(InputSpec.frames(3, 4, 4, 1), layers=(Flatten(), LSTM(64), Dense(3, activation="softmax")))
    with pytest.raises(TrainError, match="ends in a softmax"):
        prepare_model(BaseModel(spec, None), _data(Task("regression", 1, False), InputSpec.frames(3, 4, 4, 1)), seed=0)


def test_unreadable_model_sources(tmp_path):
    with pytest.raises(TrainError, match=r"--spec: cannot read .*nope.json"):
        load_base(ModelSource("spec", str(tmp_path / "nope.json")))
    (tmp_path / "fake.keras").write_bytes(b"not a zip")
    with pytest.raises(TrainError, match=r"--from-keras: .*fake.keras"):
        load_base(ModelSource("keras", str(tmp_path / "fake.keras")))


# -- objective ---------------------------------------------------------------------------


@pytest.mark.parametrize("per_timestep", [False, True])
def test_regression_sums_match_torch_losses(per_timestep):
    generator = torch.Generator().manual_seed(0)
    shape = (4, 5, 2) if per_timestep else (4, 2)
    output, target = torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)
    loss, metric, count = OutputObjective(Task("regression", 2, per_timestep)).sums(output, target)
    torch.testing.assert_close(loss / count, F.mse_loss(output, target))
    torch.testing.assert_close(metric / count, F.l1_loss(output, target))


@pytest.mark.parametrize("probabilities", [False, True])
@pytest.mark.parametrize("per_timestep", [False, True])
def test_classification_sums_match_torch_losses(per_timestep, probabilities):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn((6, 3, 4) if per_timestep else (6, 4), generator=generator)
    labels = torch.randint(0, 4, logits.shape[:-1], generator=generator)
    output = logits.softmax(dim=-1) if probabilities else logits
    loss, metric, count = OutputObjective(Task("classification", 4, per_timestep), probabilities=probabilities).sums(
        output, labels
    )
    torch.testing.assert_close(loss / count, F.cross_entropy(logits.reshape(-1, 4), labels.reshape(-1)))
    torch.testing.assert_close(metric / count, (logits.argmax(-1) == labels).float().mean())
    assert count == labels.numel()


def test_baselines():
    unused = torch.zeros(2, 1, 1, 1, 1)  # inputs: only persistence (frames) uses them
    regression = OutputObjective(Task("regression", 1, False)).baseline(
        torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [4.0]]), unused
    )
    assert (regression.loss, regression.metric) == (4.0, 2.0)  # mean 2: errors -2 and 2
    train = torch.tensor([0, 0, 0, 1, 2, 2])
    val = torch.tensor([0, 1, 2, 2])
    classification = OutputObjective(Task("classification", 4, False)).baseline(train, val, unused)
    prior = torch.tensor([4.0, 2.0, 3.0, 1.0], dtype=torch.float64) / 10  # add-one smoothed counts
    assert classification.loss == pytest.approx(-prior.log()[val].mean().item())
    assert classification.metric == 0.25  # predicts class 0


def test_next_frame_baseline_is_persistence():
    frames = torch.arange(2 * 4 * 1 * 2 * 2, dtype=torch.float32).reshape(2, 4, 1, 2, 2)  # (N, T, C, H, W)
    inputs, targets = frames[:, :-1], frames[:, 1:]  # every cell grows by 4 per step
    objective = OutputObjective(Task("frames", 1, True))
    assert objective.loss_name == "mse"
    scores = objective.baseline(targets, targets, inputs)
    assert (scores.loss, scores.metric) == (16.0, 4.0)
    loss, metric, count = objective.sums(inputs, targets)
    assert (loss.item() / count.item(), metric.item() / count.item()) == (16.0, 4.0)


def test_several_outputs_minimise_the_sum_of_their_mean_losses():
    generator = torch.Generator().manual_seed(0)
    values, targets = torch.randn(4, 1, generator=generator), torch.randn(4, 1, generator=generator)
    scores, labels = torch.randn(4, 3, 5, generator=generator), torch.randint(0, 5, (4, 3), generator=generator)
    objective = Objective({"out": Task("regression", 1, False), "cls": Task("classification", 5, True)})
    sums = objective.sums((values, scores), {"out": targets, "cls": labels})
    assert sums.shape == (2, 3)
    expected = F.mse_loss(values, targets) + F.cross_entropy(scores.reshape(-1, 5), labels.reshape(-1))
    torch.testing.assert_close(Objective.loss(sums), expected)
    evaluation = objective.evaluation(sums.tolist())
    assert evaluation.loss == pytest.approx(expected.item()) and evaluation.metric is None
    columns = objective.columns("val", evaluation)
    assert list(columns) == ["val_loss", "val_out_mse", "val_out_mae", "val_cls_cross_entropy", "val_cls_accuracy"]
    assert objective.from_columns("val", columns) == evaluation
    assert objective.plotted() == ["loss", "out_mae", "cls_accuracy"]
    assert objective.format(Evaluation({"out": Scores(0.5, 0.25), "cls": Scores(1.5, 0.75)})) == (
        "loss 2 (out: mse 0.5 mae 0.25; cls: cross_entropy 1.5 accuracy 0.75)"
    )


def test_one_output_keeps_its_plain_column_names():
    objective = Objective({"dense_1": Task("regression", 1, False)})
    evaluation = Evaluation({"dense_1": Scores(0.5, 0.25)})
    assert objective.columns("train", evaluation) == {"train_mse": 0.5, "train_mae": 0.25}
    assert (evaluation.loss, evaluation.metric) == (0.5, 0.25) and objective.format(evaluation) == "mse 0.5 mae 0.25"


# -- graphs ------------------------------------------------------------------------------


def _graph_data(frames: InputSpec, side: InputSpec, tasks: dict[str, Task], n: int = 4) -> TrainValData:
    """Zeros shaped like the inputs, and targets for ``tasks`` (by output name)."""
    steps = frames.timesteps
    inputs = {
        "frames": np.zeros((n, steps, frames.channels, frames.height, frames.width), np.float32),
        "side": np.zeros((n, *side.shape), np.float32),
        "steps": np.ones((n, steps), bool),
    }
    targets = {
        name: np.zeros((n, steps) if task.per_timestep else (n,), np.int64)
        if task.kind == "classification"
        else np.zeros((n, task.units), np.float32)
        for name, task in tasks.items()
    }
    shapes = (frames, side, InputSpec.mask(steps, name="steps"))
    return make_split(inputs, targets, tasks, shapes, val_fraction=0.5, seed=0, description="zeros", fingerprint="zeros")


GRAPH_TASKS = {"out": Task("regression", 2, False), "per_step": Task("classification", 5, True)}


def test_a_fresh_graph_takes_the_data_shapes_and_each_output_its_units():
    data = _graph_data(InputSpec.frames(3, 6, 5, 2), InputSpec.sequence(3, 4, name="side"), GRAPH_TASKS)
    prepared = prepare_model(BaseModel(TWO_HEADS, None), data, seed=0)
    spec = prepared.model.spec
    assert spec.inputs == (
        InputSpec.frames(None, 6, 5, 2),
        InputSpec.sequence(None, 4, name="side"),
        InputSpec.mask(None, name="steps"),
    )
    assert spec.output_shapes() == [Vector(2), Steps(None, 5)]
    assert [spec.layer(name).units for name in ("out", "per_step")] == [2, 5]  # the output layers resized, not appended
    assert prepared.notes[0] == "input 'side': (*, 3) -> (*, 4) per sample, from the data"  # the time axis stays open
    other_frames = _graph_data(InputSpec.frames(3, 7, 6, 2), InputSpec.sequence(3, 4, name="side"), GRAPH_TASKS)
    with pytest.raises(TrainError, match=r"the data's shapes do not fit model 'two-heads': model backbone: input 'frame'"):
        prepare_model(BaseModel(TWO_HEADS, None), other_frames, seed=0)  # a nested model keeps its declared input
    assert "output 'per_step' units: 3 -> 5, for the task" in prepared.notes and prepared.probabilities == [False, False]


def test_an_output_that_other_layers_read_gets_a_dense_appended():
    nodes = [node for node in TWO_HEADS.nodes if node.layer.name != "per_step"]
    spec = ModelSpec(inputs=TWO_HEADS.inputs, nodes=nodes, outputs=("out", "shared@1"))  # shared@1 is read by 'both' too
    adapted = adapt_spec(spec, inputs=(), units=[1, 6])
    assert adapted.outputs == ("out", "dense_1") and adapted.layer("shared").units == 8
    assert adapted.nodes[-1] == Node(Dense(6, name="dense_1"), ("shared@1",))


def test_a_keras_graph_keeps_its_weights_and_refuses_other_feature_sizes(tmp_path):
    path, weights = _keras_file(tmp_path, TWO_HEADS)
    base = load_base(ModelSource("keras", str(path)))
    same_sizes = _graph_data(InputSpec.frames(3, 6, 5, 2), InputSpec.sequence(3, 3, name="side"), GRAPH_TASKS)
    prepared = prepare_model(base, same_sizes, seed=0)
    state = prepared.model.state_dict()
    fresh = sorted(key for key in state if state[key].shape != weights[key].shape)
    assert fresh == ["layers.out.bias", "layers.out.weight", "layers.per_step.bias", "layers.per_step.weight"]
    assert all(torch.equal(state[key], value) for key, value in weights.items() if key not in fresh)
    other = _graph_data(InputSpec.frames(3, 6, 5, 2), InputSpec.sequence(3, 4, name="side"), GRAPH_TASKS)
    with pytest.raises(
        TrainError, match=r"input 'side' is a sequence \(time, features\) = \(\*, 3\) per sample, the data has \(3, 4\)"
    ):
        prepare_model(base, other, seed=0)


def test_graph_outputs_must_match_their_targets_kind():
    per_sample = {"out": Task("regression", 1, False), "per_step": Task("classification", 3, False)}
    data = _graph_data(InputSpec.frames(3, 6, 5, 2), InputSpec.sequence(3, 3, name="side"), per_sample)
    with pytest.raises(TrainError, match=r"one output per timestep at output 'per_step' but the data has one target per sample"):
        prepare_model(BaseModel(TWO_HEADS, None), data, seed=0)
