"""Training trajectories: the same initial weights and batches, 50 steps in Keras (``compile`` + ``train_on_batch``)
and in a plain torch loop; per-step losses and the final weights (BatchNorm's moving statistics included) must agree.

The torch side uses Keras' counterparts: ``torch.optim.SGD`` for SGD, ``torch_impl.optim.KerasAdam`` for Adam,
over ``model.parameters()`` (torch's extra recurrent ``bias_hh`` frozen). The default run trains two
models on every backend (a preset with SGD and cross-entropy; GRU, Bidirectional and both BatchNorm modes with
Adam and MSE) and checks that torch's own Adam, training both recurrent biases, or BatchNorm statistics over all
timesteps would be caught; ``-m deep`` runs every trajectory model with both optimizers and both losses.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch

from lstm2d.parity import (
    Batches,
    Trajectory,
    compare_trajectories,
    initial_weights,
    keras_trajectory,
    torch_trajectory,
    training_batches,
)
from lstm2d.spec import ModelSpec
from lstm2d.tolerances import TRAINING_WEIGHT_TOL
from parity_tests.specs import TRAJECTORY_SPECS, with_classes
from torch_impl.layers import KerasBatchNorm

pytestmark = pytest.mark.usefixtures("single_torch_thread")  # tiny models: see conftest
STEPS = 50
SPECS = {spec.name: spec for spec in TRAJECTORY_SPECS}
FAST = (("seed-cnn", "sgd", "crossentropy"), ("gru-bidirectional-batch-norm", "adam", "mse"))
FULL = [(name, optimizer, loss) for name in SPECS for optimizer in ("sgd", "adam") for loss in ("mse", "crossentropy")]


@cache
def _keras_run(name: str, optimizer: str, loss: str, direction: str = "keras_to_torch") -> tuple[ModelSpec, Batches, Trajectory]:
    """The Keras side of one trajectory (computed once per process, shared with the negative controls)."""
    spec = with_classes(SPECS[name]) if loss == "crossentropy" else SPECS[name]
    batches = training_batches(spec, loss=loss, steps=STEPS, batch=4, seed=5)
    return spec, batches, keras_trajectory(spec, batches, optimizer=optimizer, loss=loss, direction=direction, seed=5)


def _compare(name: str, optimizer: str, loss: str, direction: str = "keras_to_torch", **torch_options):
    spec, batches, reference = _keras_run(name, optimizer, loss, direction)
    candidate = torch_trajectory(
        spec, batches, optimizer=optimizer, loss=loss, direction=direction, seed=5, **torch_options
    )  # fmt: skip
    label = f"{name} {optimizer} {loss} {STEPS} steps"
    return spec, reference, compare_trajectories(reference, candidate, weight_tol=TRAINING_WEIGHT_TOL[optimizer], label=label)


def _assert_trajectory_matches(name: str, optimizer: str, loss: str, direction: str = "keras_to_torch") -> None:
    spec, reference, report = _compare(name, optimizer, loss, direction)
    print(report.table())
    assert report.ok, report.table()
    # Every Keras weight was compared (BatchNorm's moving statistics included) after a real training run: the
    # loss fell, and every weight and statistic moved by more than ten times the tolerance.
    assert [o.name for o in report.outputs[1:]] == [
        f"{layer}/{key}" for layer, values in reference.weights.items() for key in values
    ]
    assert reference.losses[-10:].mean() < reference.losses[:10].mean(), reference.losses
    start = initial_weights(spec, direction, seed=5)[0]
    for layer, values in reference.weights.items():
        for key, value in values.items():
            moved = np.abs(value - start[layer][key]).max()
            assert moved > 10 * TRAINING_WEIGHT_TOL[optimizer], f"{layer}/{key} moved only {moved:.2e} in {STEPS} steps"


@pytest.mark.parametrize(("name", "optimizer", "loss"), FAST)
def test_trajectory_matches_keras(name, optimizer, loss):
    _assert_trajectory_matches(name, optimizer, loss)


@pytest.mark.deep
@pytest.mark.parametrize(("name", "optimizer", "loss"), FULL)
def test_every_trajectory_matches_keras(name, optimizer, loss):
    _assert_trajectory_matches(name, optimizer, loss)


@pytest.mark.deep
def test_trajectory_from_torch_weights():
    """Random torch weights (bias_hh non-zero, then frozen): Keras' bias is bias_ih + bias_hh all the way."""
    _assert_trajectory_matches("seed-flat", "adam", "mse", direction="torch_to_keras")


def _failing_rows(report) -> set[str]:
    return {o.name for o in report.outputs if not o.ok}


def test_catches_torch_adam():
    """Negative control: ``torch.optim.Adam`` (even with Keras' epsilon 1e-7) is not Keras' Adam: the losses tell."""
    _, _, report = _compare(
        "gru-bidirectional-batch-norm", "adam", "mse", make_optimizer=lambda p, lr: torch.optim.Adam(p, lr=lr, eps=1e-7)
    )
    assert "losses" in _failing_rows(report), report.table()


def test_catches_training_both_recurrent_biases():
    """Negative control: training torch's bias_ih and bias_hh moves the LSTM's bias twice as far as Keras does."""
    _, _, report = _compare("seed-cnn", "sgd", "crossentropy", keras_biases=False)
    assert {"losses", "lstm_1/bias"} <= _failing_rows(report), report.table()


def test_catches_batch_statistics_over_all_timesteps(monkeypatch):
    """Negative control: ``TimeDistributed(BatchNormalization)`` statistics taken over batch and time together."""

    def over_all_timesteps(self: KerasBatchNorm, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=(0, 1, 3, 4) if self.spatial else (0, 1), correction=0)
        self._update(mean.detach().unsqueeze(0), var.detach().unsqueeze(0))
        return self._normalise(x, mean, var)

    monkeypatch.setattr(KerasBatchNorm, "_train_per_timestep", over_all_timesteps)
    _, _, report = _compare("gru-bidirectional-batch-norm", "adam", "mse")
    assert {"losses", "batch_norm_1/moving_mean", "batch_norm_1/moving_variance"} <= _failing_rows(report), report.table()
