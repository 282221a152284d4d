"""``torch_impl.optim``: Keras' Adam against a numpy transcription of Keras' update, and Keras' trainable set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_impl
from lstm2d.spec import GRU, LSTM, Bidirectional, Dense, Flatten, InputSpec, ModelSpec, SimpleRNN
from torch_impl.optim import KerasAdam
from torch_impl.weight_table import merged_bias_keys


def keras_adam_numpy(
    var: np.ndarray, grads: list[np.ndarray], *, lr: float, beta_1: float = 0.9, beta_2: float = 0.999,
    epsilon: float = 1e-7, amsgrad: bool = False, weight_decay: float | None = None,
) -> np.ndarray:  # fmt: skip
    """Keras 3.15's ``Adam.update_step`` (keras/src/optimizers/adam.py) and ``_apply_weight_decay``, in numpy, op for op."""
    dtype = var.dtype.type
    var = var.copy()
    m, v, v_hat = np.zeros_like(var), np.zeros_like(var), np.zeros_like(var)
    for iterations, gradient in enumerate(grads):
        lr_t = dtype(lr)
        if weight_decay is not None:
            var = var - var * dtype(weight_decay) * lr_t
        local_step = dtype(iterations + 1)
        beta_1_power = np.power(dtype(beta_1), local_step)
        beta_2_power = np.power(dtype(beta_2), local_step)
        alpha = lr_t * np.sqrt(dtype(1) - beta_2_power) / (dtype(1) - beta_1_power)
        m = m + (gradient - m) * dtype(1 - beta_1)
        v = v + (np.square(gradient) - v) * dtype(1 - beta_2)
        denominator_v = v
        if amsgrad:
            v_hat = np.maximum(v_hat, v)
            denominator_v = v_hat
        var = var - (m * alpha) / (np.sqrt(denominator_v) + dtype(epsilon))
    return var


def _gradients(steps: int, shape: tuple[int, ...], dtype: type, seed: int = 0) -> list[np.ndarray]:
    """Gradients over six orders of magnitude (so epsilon matters for some), changing sign and size between steps."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-7, -1, num=int(np.prod(shape))).reshape(shape)
    return [(rng.standard_normal(shape) * scales * (1 + step % 3)).astype(dtype) for step in range(steps)]


def _run_torch(optimizer_class, var: np.ndarray, grads: list[np.ndarray], **options) -> np.ndarray:
    param = torch.nn.Parameter(torch.from_numpy(var.copy()))
    optimizer = optimizer_class([param], **options)
    for grad in grads:
        param.grad = torch.from_numpy(grad)
        optimizer.step()
    return param.detach().numpy()


@pytest.mark.parametrize(
    "options",
    [{}, {"amsgrad": True}, {"weight_decay": 0.1}, {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}],
    ids=["defaults", "amsgrad", "weight-decay", "other-betas-epsilon"],
)
def test_keras_adam_is_keras_update(options):
    var = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)
    grads = _gradients(40, var.shape, np.float32)
    expected = keras_adam_numpy(var, grads, lr=0.01, **options)
    got = _run_torch(KerasAdam, var, grads, lr=0.01, **options)
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)
    assert np.abs(got - var).max() > 0.1  # 40 steps of lr 0.01 moved it


def test_keras_adam_is_torch_adam_with_an_epsilon_that_changes_every_step():
    """Keras' update is torch's with epsilon eps / sqrt(1 - beta_2^t): the whole difference is epsilon's place."""
    var = np.random.default_rng(2).standard_normal((4, 7))
    grads = _gradients(30, var.shape, np.float64, seed=3)
    keras_param = torch.nn.Parameter(torch.from_numpy(var.copy()))
    torch_param = torch.nn.Parameter(torch.from_numpy(var.copy()))
    keras_adam = KerasAdam([keras_param], lr=0.01)
    torch_adam = torch.optim.Adam([torch_param], lr=0.01)
    for t, grad in enumerate(grads, start=1):
        keras_param.grad, torch_param.grad = torch.from_numpy(grad), torch.from_numpy(grad)
        torch_adam.param_groups[0]["eps"] = 1e-7 / np.sqrt(1 - 0.999**t)
        keras_adam.step()
        torch_adam.step()
    np.testing.assert_allclose(keras_param.detach().numpy(), torch_param.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_keras_adam_differs_from_torch_adam_by_the_epsilon_placement():
    """One step from zero moments: Keras moves by lr*g*sqrt(1-b2)/(sqrt(1-b2)|g| + 1e-7), torch by lr*g/(|g| + 1e-8)."""
    g = np.array([1e-1, 1e-3, 1e-5, 1e-6, 1e-7, -1e-6])
    lr, c = 0.01, np.sqrt(1 - 0.999)
    expected = lr * g * (1 / (np.abs(g) + 1e-8) - c / (c * np.abs(g) + 1e-7))  # torch's step minus Keras' step
    var = np.zeros_like(g)
    keras_var = _run_torch(KerasAdam, var, [g], lr=lr)
    torch_var = _run_torch(torch.optim.Adam, var, [g], lr=lr)
    np.testing.assert_allclose(keras_var - torch_var, expected, rtol=1e-9, atol=1e-15)
    assert abs(expected[3]) > 0.7 * lr  # a gradient of 1e-6: Keras steps 0.24 lr, torch 0.99 lr
    assert abs(expected[0]) < 1e-4 * lr  # a gradient of 0.1: they agree to ~3e-5 of a step


def test_keras_adam_counts_steps_like_keras_iterations():
    """A parameter without a gradient in a step is not updated, but the step count (Keras' ``iterations``) advances."""
    a, b = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64)), torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    optimizer = KerasAdam([a, b], lr=0.1)
    grads = _gradients(3, (3,), np.float64, seed=4)
    for step, grad in enumerate(grads):
        a.grad = torch.from_numpy(grad)
        b.grad = torch.from_numpy(grad) if step == 2 else None
        optimizer.step()
    np.testing.assert_allclose(a.detach().numpy(), keras_adam_numpy(np.zeros(3), grads, lr=0.1), rtol=1e-12)
    # b saw one gradient, at step 3: Keras' bias correction uses t = 3, not 1.
    alpha = 0.1 * np.sqrt(1 - 0.999**3) / (1 - 0.9**3)
    m, v = 0.1 * grads[2], 0.001 * grads[2] ** 2
    np.testing.assert_allclose(b.detach().numpy(), -alpha * m / (np.sqrt(v) + 1e-7), rtol=1e-12)


def test_keras_adam_state_survives_a_state_dict_round_trip():
    var = np.random.default_rng(5).standard_normal(4).astype(np.float32)
    grads = _gradients(6, var.shape, np.float32, seed=6)
    param = torch.nn.Parameter(torch.from_numpy(var.copy()))
    optimizer = KerasAdam([param], lr=0.01)
    for grad in grads[:3]:
        param.grad = torch.from_numpy(grad)
        optimizer.step()
    resumed = KerasAdam([param], lr=0.01)
    resumed.load_state_dict(optimizer.state_dict())
    for grad in grads[3:]:
        param.grad = torch.from_numpy(grad)
        resumed.step()
    np.testing.assert_allclose(param.detach().numpy(), keras_adam_numpy(var, grads, lr=0.01), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"lr": -1.0}, "lr"), ({"beta_1": 1.0}, "beta_1"), ({"beta_2": -0.1}, "beta_2"), ({"epsilon": -1.0}, "epsilon"),
     ({"weight_decay": -0.1}, "weight_decay")],
)  # fmt: skip
def test_keras_adam_refuses_bad_settings(options, message):
    with pytest.raises(ValueError, match=message):
        KerasAdam([torch.nn.Parameter(torch.zeros(1))], **options)


def test_models_freeze_exactly_the_biases_keras_merges():
    spec = ModelSpec(
        InputSpec.frames(4, 3, 2, 1),
        layers=(
            Flatten(),
            LSTM(3, return_sequences=True),
            Bidirectional(SimpleRNN(2, return_sequences=True)),
            GRU(2, return_sequences=True),  # reset_after=True: Keras has both biases
            Bidirectional(GRU(2, reset_after=False)),
            Dense(1),
        ),
    )
    model = torch_impl.build_model(spec)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {
        "layers.lstm_1.bias_hh_l0",
        "layers.bidirectional_1.bias_hh_l0",
        "layers.bidirectional_1.bias_hh_l0_reverse",
        "layers.bidirectional_2.bias_hh_l0",
        "layers.bidirectional_2.bias_hh_l0_reverse",
    }
    assert frozen == set(merged_bias_keys(spec))
    torch_impl.load_state(model, torch_impl.state_as_numpy(model))  # loading weights keeps them frozen
    assert frozen == {name for name, p in model.named_parameters() if not p.requires_grad}


def test_frozen_bias_hh_gives_keras_sgd_step_on_the_sum():
    """With bias_hh frozen, one SGD step moves bias_ih + bias_hh by -lr * grad, as Keras moves its one bias."""
    spec = ModelSpec(InputSpec.frames(3, 2, 2, 1), layers=(Flatten(), LSTM(2), Dense(1)))
    model = torch_impl.build_model(spec)
    lstm = model.layers["lstm_1"]
    with torch.no_grad():
        lstm.bias_hh_l0.uniform_(-0.5, 0.5)  # whatever it holds
    before = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(2, 3, 1, 2, 2)).sum().backward()
    grad = lstm.bias_ih_l0.grad.clone()
    optimizer.step()
    assert lstm.bias_hh_l0.grad is None
    torch.testing.assert_close(lstm.bias_ih_l0 + lstm.bias_hh_l0, before - 0.1 * grad)
