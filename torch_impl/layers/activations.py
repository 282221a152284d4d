"""Element-wise layers: Keras activations as torch functions and modules (parameter-free: never in a state dict),
and Keras ``Dropout``.

Each formula is Keras 3's (``keras/src/activations/activations.py``), checked against a numpy
reference in the tests. ``hard_sigmoid_keras2`` is Keras 2's ``hard_sigmoid``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import ACTIVATIONS, Activation, Dropout, Layer
from torch_impl.kinds import TorchKind, register
from torch_impl.layout import NodePlan, keras_last_dim

ActivationFn = Callable[[torch.Tensor], torch.Tensor]


def _hard_sigmoid_keras2(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def _sparse_plus(x: torch.Tensor) -> torch.Tensor:
    """0 for x <= -1, (x + 1)^2 / 4 below 1, x from 1 on."""
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * (x + 1) ** 2, x))


def _sparse_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """0 for x <= -1, (x + 1) / 2 below 1, 1 from 1 on."""
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x >= 1, torch.ones_like(x), 0.5 * (x + 1)))


def _squareplus(x: torch.Tensor) -> torch.Tensor:
    """(x + sqrt(x^2 + b)) / 2 with Keras' default b = 4."""
    return (x + torch.sqrt(x**2 + 4.0)) / 2


def _elementwise(name: str) -> ActivationFn | None:
    """The function for an element-wise activation; None for the axis-wise ones (softmax, log_softmax)."""
    table: dict[str, ActivationFn] = {
        "linear": lambda x: x,
        "relu": F.relu,
        "relu6": F.relu6,
        "leaky_relu": partial(F.leaky_relu, negative_slope=0.2),  # Keras' default slope; torch's is 0.01
        "elu": F.elu,
        "selu": F.selu,
        "gelu": F.gelu,  # exact (erf) form: Keras' default approximate=False
        "silu": F.silu,
        "swish": F.silu,
        "hard_silu": F.hardswish,  # x * relu6(x + 3) / 6
        "hard_swish": F.hardswish,
        "mish": F.mish,
        "sigmoid": torch.sigmoid,
        "hard_sigmoid": F.hardsigmoid,  # Keras 3: relu6(x + 3) / 6
        "hard_sigmoid_keras2": _hard_sigmoid_keras2,
        "tanh": torch.tanh,
        "softplus": F.softplus,
        "softsign": F.softsign,
        "exponential": torch.exp,
        "celu": F.celu,  # alpha 1, Keras' default
        "hard_shrink": partial(F.hardshrink, lambd=0.5),  # x where |x| > 0.5, else 0
        "hard_tanh": F.hardtanh,  # clip(x, -1, 1)
        "log_sigmoid": F.logsigmoid,
        "soft_shrink": partial(F.softshrink, lambd=0.5),  # x -+ 0.5 outside [-0.5, 0.5], else 0
        "sparse_plus": _sparse_plus,
        "sparse_sigmoid": _sparse_sigmoid,
        "squareplus": _squareplus,
        "tanh_shrink": F.tanhshrink,  # x - tanh(x)
    }
    return table.get(name)


def activation_fn(name: str, *, channel_dim: int = -1) -> ActivationFn:
    """The torch function for a Keras activation name.

    ``channel_dim`` is the axis Keras' softmax reduces over: Keras uses the last axis, the channel
    axis in Keras layout; in torch's channels-first frames and grids that is dim -3.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not supported; expected one of {', '.join(ACTIVATIONS)}")
    if name == "softmax":
        return partial(torch.softmax, dim=channel_dim)
    if name == "log_softmax":
        return partial(torch.log_softmax, dim=channel_dim)
    fn = _elementwise(name)
    assert fn is not None, name
    return fn


class KerasActivation(nn.Module):
    """A Keras activation as a module (``Activation`` layers, and the activation of Conv/Dense layers)."""

    def __init__(self, name: str, *, channel_dim: int = -1) -> None:
        super().__init__()
        self.name = name
        self.channel_dim = channel_dim
        self.fn = activation_fn(name, channel_dim=channel_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name if self.name not in ("softmax", "log_softmax") else f"{self.name}, dim={self.channel_dim}"


def make_activation(name: str, *, channel_dim: int = -1) -> nn.Module:
    """``nn.Identity`` for ``linear`` (nothing to run), else a :class:`KerasActivation`."""
    return nn.Identity() if name == "linear" else KerasActivation(name, channel_dim=channel_dim)


def _build_activation(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Activation)
    return make_activation(layer.activation, channel_dim=keras_last_dim(node.layouts.inputs[0], data_format))


def _build_dropout(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Dropout)
    return nn.Dropout(layer.rate)


register("activation", TorchKind(_build_activation))
register("dropout", TorchKind(_build_dropout))
