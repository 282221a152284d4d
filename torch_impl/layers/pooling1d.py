"""Keras ``MaxPooling1D`` / ``AveragePooling1D`` with TensorFlow's ``same`` semantics, and ``GlobalAveragePooling1D`` /
``GlobalMaxPooling1D`` (the average over a sequence's real steps where it is masked). Keras' layout in and out (see
``conv1d``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import GlobalPool1D, Layer, Pool1D
from torch_impl.kinds import Outputs, TorchKind, register
from torch_impl.layers.conv1d import over_signals, per_channel_rule, signal_padding
from torch_impl.layout import NodePlan


class SignalPool1d(nn.Module):
    """Keras ``MaxPooling1D`` / ``AveragePooling1D`` on a sequence ``(B, T, F)`` (over time) or 1D signals ``(B, T, L, C)``
    (over every step's signal).

    ``same`` padding follows TensorFlow: the padded cells never win a max, and an average is over the valid cells
    only. Symmetric padding uses torch's own pooling padding (``-inf`` for max, ``count_include_pad=False`` for avg);
    asymmetric padding (the odd cell at the end) pads explicitly, and for the average divides the window sums by
    the count of valid cells in each window.
    """

    def __init__(self, layer: Pool1D) -> None:
        super().__init__()
        self.mode = layer.mode
        (self.kernel_size,), (self.stride,) = layer.pool_size, layer.window_strides
        self.padding = layer.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return over_signals(self._signals, x)

    def _signals(self, signals: torch.Tensor) -> torch.Tensor:  # (N, C, L)
        before, after = signal_padding(signals.shape[-1], self.kernel_size, self.stride, 1, self.padding)
        if self.mode == "max":
            if before != after:
                signals, before = F.pad(signals, (before, after), value=float("-inf")), 0
            return F.max_pool1d(signals, self.kernel_size, self.stride, before)
        if before == after:
            return F.avg_pool1d(signals, self.kernel_size, self.stride, before, count_include_pad=False)
        valid = F.pad(torch.ones_like(signals[:1, :1]), (before, after))  # (1, 1, L + padding)
        sums, counts = (self._window_sums(s) for s in (F.pad(signals, (before, after)), valid))
        return sums / counts

    def _window_sums(self, signals: torch.Tensor) -> torch.Tensor:
        """Each window's sum (``avg_pool1d`` has no ``divisor_override``: ``avg_pool2d`` over one row has)."""
        sums = F.avg_pool2d(signals.unsqueeze(-2), (1, self.kernel_size), (1, self.stride), divisor_override=1)
        return sums.squeeze(-2)

    def extra_repr(self) -> str:
        return f"mode={self.mode}, kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class GlobalPool1d(nn.Module):
    """Keras ``GlobalAveragePooling1D`` / ``GlobalMaxPooling1D`` over axis -2 of Keras' layout: a sequence ``(B, T, F)``
    -> ``(B, F)``, 1D signals ``(B, T, L, C)`` -> ``(B, T, C)`` (``keepdims``: the axis kept, of size 1).

    ``mask`` ``(B, T)`` (True: a real step), on a sequence: the average is over the real steps, as Keras' (masked
    steps zeroed with ``where``, so whatever they hold stays out; a sample without one gets 0 / 0). The max ignores a
    mask, as Keras' GlobalMaxPooling1D does (it does not support masking).
    """

    def __init__(self, mode: str, keepdims: bool) -> None:
        super().__init__()
        self.mode = mode
        self.keepdims = keepdims

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode == "max":
            return x.amax(dim=-2, keepdim=self.keepdims)
        if mask is None:
            return x.mean(dim=-2, keepdim=self.keepdims)
        real = mask.unsqueeze(-1)  # (B, T, 1)
        total = torch.where(real, x, torch.zeros_like(x)).sum(dim=-2, keepdim=self.keepdims)
        return total / real.to(x.dtype).sum(dim=-2, keepdim=self.keepdims)

    def extra_repr(self) -> str:
        return f"mode={self.mode}, keepdims={self.keepdims}"


def _build_pool(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, Pool1D)
    return SignalPool1d(layer)


def _build_global_pool(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, GlobalPool1D)
    return GlobalPool1d(layer.mode, layer.keepdims)


def _call_global_pool(module: nn.Module, inputs: list[torch.Tensor], mask: torch.Tensor | None, layer: Layer) -> Outputs:
    """The mask the input carries goes to the module (which averages over the real steps); the output has none."""
    return (module(inputs[0], mask),), None


register("pool1d", TorchKind(_build_pool, per_channel_rule))
register("global_pool1d", TorchKind(_build_global_pool, per_channel_rule, call=_call_global_pool))
