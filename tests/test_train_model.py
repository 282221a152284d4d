"""Fitting a model to the data: spec edits over every preset, Keras weights kept where they fit, loss and baseline maths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import torch_impl
from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import LSTM, Conv3D, ConvLSTM2D, Dense, Flatten, InputSpec, ModelSpec
from lstm2d.train.config import ModelSource
from lstm2d.train.data import Task, TrainValData
from lstm2d.train.data.dataset import to_dataset
from lstm2d.train.errors import TrainError
from lstm2d.train.model_setup import BaseModel, load_base, prepare_model
from lstm2d.train.objective import Objective
from lstm2d.train.spec_edit import adapt_spec, final_activation

OPEN_SEQUENCES = ModelSpec(
    InputSpec.frames(None, 6, 5, 2), layers=(Flatten(), LSTM(4, return_sequences=True), LSTM(3, return_sequences=True))
)
SPECS = {name: get_preset(name) for name in preset_names()} | {"lstm-last-sequences": OPEN_SEQUENCES}


@pytest.mark.parametrize("units", [1, 10])
@pytest.mark.parametrize("name", SPECS)
def test_adapt_spec_sets_input_and_output_units(name, units):
    spec = SPECS[name]
    shape = InputSpec.frames(7, 12, 9, spec.input.channels)
    adapted = adapt_spec(spec, input=shape, units=units)
    assert adapted.input == shape
    assert adapted.output_shape()[-1] == units
    assert len(adapted.output_shape()) == len(spec.output_shape())  # per sample stays per sample
    assert adapted.name == spec.name
    model = torch_impl.build_model(adapted, input_layout="channels_last")  # outputs in Keras layout: units last
    assert model(torch.zeros(2, 7, 12, 9, spec.input.channels)).shape[-1] == units


@pytest.mark.parametrize("name", SPECS)
def test_adapt_spec_is_the_identity_when_the_spec_fits(name):
    spec = SPECS[name]
    assert adapt_spec(spec, input=spec.input, units=spec.output_shape()[-1]) == spec


def test_adapt_spec_keeps_the_output_layer_and_appends_only_after_an_lstm():
    spec = ModelSpec(
        InputSpec.frames(3, 4, 4, 1),
        layers=(Flatten(), LSTM(64), Dense(5, activation="relu", name="hidden"), Dense(1, activation="softmax", name="out")),
    )
    adapted = adapt_spec(spec, input=spec.input, units=4)
    dense = [layer for layer in adapted.layers if isinstance(layer, Dense)]
    assert [(d.name, d.units, d.activation) for d in dense] == [("hidden", 5, "relu"), ("out", 4, "softmax")]
    assert final_activation(adapted) == "softmax"
    appended = adapt_spec(OPEN_SEQUENCES, input=InputSpec.frames(2, 6, 5, 2), units=10)
    assert appended.layers[:-1] == OPEN_SEQUENCES.layers
    assert (type(appended.layers[-1]), appended.layers[-1].units, appended.layers[-1].activation) == (Dense, 10, "linear")
    assert final_activation(OPEN_SEQUENCES) == "tanh"


def test_adapt_spec_sets_the_filters_of_a_frame_output():
    spec = ModelSpec(
        InputSpec.frames(3, 6, 6, 1),
        layers=(ConvLSTM2D(4, 3, padding="same", return_sequences=True), Conv3D(1, 3, padding="same")),
    )
    adapted = adapt_spec(spec, input=InputSpec.frames(3, 6, 6, 2), units=2)
    assert adapted.layers[-1].filters == 2 and adapted.output_shape() == (3, 6, 6, 2)


def _data(task: Task, shape: InputSpec, n: int = 6) -> TrainValData:
    x = torch.zeros(n, shape.timesteps, shape.channels, shape.height, shape.width).numpy()
    if task.kind == "classification":
        y = (torch.arange(n * (shape.timesteps if task.per_timestep else 1)) % task.units).reshape(n, -1).squeeze(1).numpy()
    else:
        y = torch.zeros((n, shape.timesteps, task.units) if task.per_timestep else (n, task.units)).numpy()
    return TrainValData(to_dataset(x, y, task), to_dataset(x, y, task), task, shape, "test data", "test")


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
    assert len(fresh) == 2 and any("output units: 1 -> 10" in note for note in prepared.notes)  # output weight, bias
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
    with pytest.raises(TrainError, match=r"reads frames \(height, width, channels\) = \(10, 10, 1\), the data has \(10, 10, 3\)"):
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
    loss, metric, count = Objective(Task("regression", 2, per_timestep)).sums(output, target)
    torch.testing.assert_close(loss / count, F.mse_loss(output, target))
    torch.testing.assert_close(metric / count, F.l1_loss(output, target))


@pytest.mark.parametrize("probabilities", [False, True])
@pytest.mark.parametrize("per_timestep", [False, True])
def test_classification_sums_match_torch_losses(per_timestep, probabilities):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn((6, 3, 4) if per_timestep else (6, 4), generator=generator)
    labels = torch.randint(0, 4, logits.shape[:-1], generator=generator)
    output = logits.softmax(dim=-1) if probabilities else logits
    loss, metric, count = Objective(Task("classification", 4, per_timestep), probabilities=probabilities).sums(output, labels)
    torch.testing.assert_close(loss / count, F.cross_entropy(logits.reshape(-1, 4), labels.reshape(-1)))
    torch.testing.assert_close(metric / count, (logits.argmax(-1) == labels).float().mean())
    assert count == labels.numel()


def test_baselines():
    unused = torch.zeros(2, 1, 1, 1, 1)  # inputs: only persistence (frames) uses them
    regression = Objective(Task("regression", 1, False)).baseline(
        torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [4.0]]), unused
    )
    assert (regression.loss, regression.metric) == (4.0, 2.0)  # mean 2: errors -2 and 2
    train = torch.tensor([0, 0, 0, 1, 2, 2])
    val = torch.tensor([0, 1, 2, 2])
    classification = Objective(Task("classification", 4, False)).baseline(train, val, unused)
    prior = torch.tensor([4.0, 2.0, 3.0, 1.0], dtype=torch.float64) / 10  # add-one smoothed counts
    assert classification.loss == pytest.approx(-prior.log()[val].mean().item())
    assert classification.metric == 0.25  # predicts class 0


def test_next_frame_baseline_is_persistence():
    frames = torch.arange(2 * 4 * 1 * 2 * 2, dtype=torch.float32).reshape(2, 4, 1, 2, 2)  # (N, T, C, H, W)
    inputs, targets = frames[:, :-1], frames[:, 1:]  # every cell grows by 4 per step
    objective = Objective(Task("frames", 1, True))
    assert objective.loss_name == "mse"
    scores = objective.baseline(targets, targets, inputs)
    assert (scores.loss, scores.metric) == (16.0, 4.0)
    loss, metric, count = objective.sums(inputs, targets)
    assert (loss.item() / count.item(), metric.item() / count.item()) == (16.0, 4.0)
