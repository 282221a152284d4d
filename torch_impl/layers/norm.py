"""Keras ``BatchNormalization`` in torch: Keras' epsilon, momentum and moving-average update, exactly.

Keras and torch differ in three ways, all absorbed here rather than in the converter:
``momentum`` means the opposite (Keras keeps ``momentum`` of the old average, torch replaces
``momentum`` of it), the defaults differ (eps 1e-3 vs 1e-5), and Keras updates the moving variance
with the biased batch variance where torch's ``running_var`` uses the unbiased one. So training
computes the batch moments itself; inference is one fused ``F.batch_norm`` call.

Parameter and buffer names are ``nn.BatchNorm``'s: ``weight`` (gamma), ``bias`` (beta),
``running_mean``, ``running_var``, each ``(features,)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import BatchNorm, Layer
from torch_impl.convert import batch_norm
from torch_impl.kinds import LayerWeights, Shapes, TorchKind, register, single_weights
from torch_impl.layout import NodePlan, with_input_order


class KerasBatchNorm(nn.Module):
    """Normalises the channel / feature axis of frames ``(B, T, C, H, W)``, a grid ``(B, C, H, W)``,
    a sequence ``(B, T, F)`` or a vector ``(B, F)`` (or any tensor with its channels last); ``spatial`` says
    whether the axis is -3 (channels-first frames and grids) or -1.

    In training, ``per_timestep=False`` takes the moments over every axis but that one (Keras
    ``BatchNormalization`` on the sequence); ``per_timestep=True`` takes them per timestep and updates
    the moving averages once per timestep in time order (Keras ``TimeDistributed(BatchNormalization)``),
    written in closed form so it is one vectorised step, not a loop.
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, layer: BatchNorm, features: int, *, spatial: bool) -> None:
        super().__init__()
        self.eps = layer.epsilon
        self.keras_momentum = layer.momentum
        self.per_timestep = layer.per_timestep
        self.spatial = spatial
        self.weight = nn.Parameter(torch.ones(features)) if layer.scale else None
        self.bias = nn.Parameter(torch.zeros(features)) if layer.center else None
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_first = x.flatten(0, -4) if self.spatial else x.flatten(0, -2)  # (N, C, H, W) or (N, F)
        if not self.training:
            out = F.batch_norm(channels_first, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
            return out.view(x.shape)
        if self.per_timestep:
            return self._train_per_timestep(x)
        dims = (0, 2, 3) if self.spatial else (0,)
        var, mean = torch.var_mean(channels_first, dim=dims, correction=0)
        self._update(mean.detach().unsqueeze(0), var.detach().unsqueeze(0))
        return self._normalise(x, mean, var)

    def _train_per_timestep(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, ...) with the channels at dim -3 (spatial) or -1: moments per timestep and channel."""
        channel = x.dim() - 3 if self.spatial else x.dim() - 1
        dims = tuple(d for d in range(x.dim()) if d not in (1, channel))
        var, mean = torch.var_mean(x, dim=dims, correction=0)  # (T, C)
        self._update(mean.detach(), var.detach())
        per_sample = [x.shape[d] if d in (1, channel) else 1 for d in range(1, x.dim())]  # (T, C, 1, 1), (T, 1, 1, C), ...
        return self._normalise(x, mean.view(per_sample), var.view(per_sample))

    def _normalise(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        shape = (-1, 1, 1) if self.spatial else (-1,)
        mean = mean.reshape(*mean.shape[:-1], *shape) if mean.dim() == 1 else mean
        var = var.reshape(*var.shape[:-1], *shape) if var.dim() == 1 else var
        out = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            out = out * self.weight.view(shape)
        if self.bias is not None:
            out = out + self.bias.view(shape)
        return out

    @torch.no_grad()
    def _update(self, means: torch.Tensor, variances: torch.Tensor) -> None:
        """Apply Keras' ``moving = moving * m + batch * (1 - m)`` once per row of ``means`` / ``variances`` (S, C), in order."""
        steps = means.shape[0]
        m = self.keras_momentum
        powers = m ** torch.arange(steps - 1, -1, -1, dtype=means.dtype, device=means.device)  # m^(S-1), ..., m^0
        weights = ((1.0 - m) * powers)[:, None]
        keep = m**steps
        self.running_mean.mul_(keep).add_((weights * means).sum(0).to(self.running_mean.dtype))
        self.running_var.mul_(keep).add_((weights * variances).sum(0).to(self.running_var.dtype))

    def extra_repr(self) -> str:
        return f"eps={self.eps}, keras_momentum={self.keras_momentum}, per_timestep={self.per_timestep}, spatial={self.spatial}"


def _build(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, BatchNorm)
    return KerasBatchNorm(layer, layer.features(node.shapes.input), spatial=node.layouts.inputs[0].channels_first)


def _weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """gamma, beta, moving_mean, moving_variance <-> weight, bias, running_mean, running_var, each (features,), in the
    order of the features the layer receives (a flatten's, where torch's differs from Keras')."""
    assert isinstance(layer, BatchNorm)
    n, order = layer.features(node.shapes.input), node.layouts.inputs[0].order
    names = [*(["gamma"] if layer.scale else []), *(["beta"] if layer.center else []), "moving_mean", "moving_variance"]
    keras_shapes: Shapes = {name: (n,) for name in names}
    torch_shapes: Shapes = {batch_norm.KERAS_TO_TORCH[name]: (n,) for name in names}
    return single_weights(
        layer, path, prefix, keras_shapes, torch_shapes,
        with_input_order(batch_norm.keras_to_torch, order), with_input_order(batch_norm.torch_to_keras, order),
    )  # fmt: skip


register("batch_norm", TorchKind(_build, weights=_weights))
