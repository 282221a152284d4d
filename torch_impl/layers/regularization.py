"""Keras' noise and activity-regularisation layers: identities at inference. In training the noise layers draw from
Keras' distributions (torch's random numbers, not Keras': a training run cannot match Keras step for step, as with
``Dropout``); ``ActivityRegularization`` stays the identity (Keras adds its penalty to the training loss, lstm2d's
training does not)."""

from __future__ import annotations

import math

import torch
from torch import nn

from lstm2d.spec import AlphaDropout, GaussianDropout, GaussianNoise, Layer
from torch_impl.kinds import TorchKind, register
from torch_impl.layout import NodePlan

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class GaussianNoiseLayer(nn.Module):
    """In training ``x + N(0, stddev^2)``; else ``x``."""

    def __init__(self, stddev: float) -> None:
        super().__init__()
        self.stddev = stddev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.stddev == 0:
            return x
        return x + torch.randn_like(x) * self.stddev

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"


class GaussianDropoutLayer(nn.Module):
    """In training ``x * N(1, rate / (1 - rate))``; else ``x``."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        return x * (1.0 + torch.randn_like(x) * math.sqrt(self.rate / (1.0 - self.rate)))

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class AlphaDropoutLayer(nn.Module):
    """Keras' ``AlphaDropout`` in training: each value kept with probability ``1 - rate``, else set to
    ``-SELU_ALPHA * SELU_SCALE``, then ``a * x + b`` with Keras' ``a`` and ``b`` (mean and variance kept); else ``x``."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        alpha_p = -SELU_ALPHA * SELU_SCALE
        kept = (torch.rand_like(x) >= self.rate).to(x.dtype)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (x * kept + alpha_p * (1 - kept)) + b

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


def _build_gaussian_noise(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, GaussianNoise)
    return GaussianNoiseLayer(layer.stddev)


def _build_gaussian_dropout(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, GaussianDropout)
    return GaussianDropoutLayer(layer.rate)


def _build_alpha_dropout(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, AlphaDropout)
    return AlphaDropoutLayer(layer.rate)


def _build_identity(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    return nn.Identity()


register("gaussian_noise", TorchKind(_build_gaussian_noise))
register("gaussian_dropout", TorchKind(_build_gaussian_dropout))
register("alpha_dropout", TorchKind(_build_alpha_dropout))
register("activity_regularization", TorchKind(_build_identity))
