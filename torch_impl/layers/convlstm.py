"""Keras ``ConvLSTM2D`` and ``ConvLSTM1D`` in native PyTorch, one cell for both, channels-first.

Keras' cell (``keras/src/layers/rnn/conv_lstm.py``), gates i, f, c, o::

    x_g = conv(x_t, kernel_g, strides, padding, dilation) + bias_g        # the layer's settings
    h_g = conv(h_{t-1}, recurrent_kernel_g, stride 1, 'same')              # always; no bias, no dilation
    i, f, o = recurrent_activation(x_i + h_i), ..., ...
    c = f * c_{t-1} + i * activation(x_c + h_c);  h = o * activation(c)

Here the input convolution runs once for every timestep and all four gates (time folded into the
batch: one conv over ``B*T`` frames), and each step is one recurrent convolution for all four gates
plus element-wise work, with no data-dependent Python control flow (``torch.compile`` and CUDA
graphs see a fixed sequence of ops for a fixed shape). Parameters: ``weight_ih`` (4F, C, *window),
``weight_hh`` (4F, F, *window), ``bias`` (4F,), gate blocks in Keras' order; the window is (kh, kw) for
ConvLSTM2D, (k,) for ConvLSTM1D, whose module reads and gives Keras' layout, as every 1D module does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lstm2d.spec import ConvLSTM, ConvLSTM1D, ConvLSTM2D, Layer, Shape, fixed_dims
from torch_impl.convert import conv_lstm
from torch_impl.kinds import LayerWeights, Shapes, TorchKind, add_bias, always, register, single_weights
from torch_impl.layers.activations import activation_fn
from torch_impl.layers.conv import split_padding, tf_padding
from torch_impl.layers.recurrent import dropout_masks
from torch_impl.layout import CHANNELS_FIRST, SPATIAL_CHANNEL_DIM, NodePlan, keras_last_dim, keras_rule, spatial_rule

ConvLSTMState = tuple[torch.Tensor, torch.Tensor]
CONVOLUTIONS = {1: F.conv1d, 2: F.conv2d}


class ConvLSTMCell(nn.Module):
    """The cell of Keras' ConvLSTM over steps of ``rank`` spatial axes, channels first: ``(B, T, C, *S)`` -> ``(B, T, F,
    *S')`` (``return_sequences``) or the last ``h`` ``(B, F, *S')``.

    ``return_state=True`` (module option, Keras' ``return_state``) also returns the final ``(h, c)``;
    ``forward(x, initial_state=(h0, c0))`` starts from given states (zeros otherwise), as Keras does.
    ``softmax_dim``: the axis a softmax (recurrent) activation reduces over, the Keras layout's last
    (see ``layout.keras_last_dim``).
    """

    def __init__(self, layer: ConvLSTM, step: Shape, *, return_state: bool, softmax_dim: int) -> None:
        """``step``: one step of the input, ``(*spatial, channels)``."""
        super().__init__()
        self.convolution = CONVOLUTIONS[layer.rank]
        self.filters = layer.filters
        self.kernel_size = layer.kernel_size
        self.stride = layer.strides
        self.dilation = layer.dilation_rate
        self.return_sequences = layer.return_sequences
        self.return_state = return_state
        self.go_backwards = layer.go_backwards
        self.input_dropout = float(layer.dropout)
        self.recurrent_dropout = float(layer.recurrent_dropout)
        self.activation_name, self.recurrent_activation_name = layer.activation, layer.recurrent_activation
        self.act = activation_fn(layer.activation, channel_dim=softmax_dim)
        self.recurrent_act = activation_fn(layer.recurrent_activation, channel_dim=softmax_dim)

        *spatial, channels = fixed_dims(step.dims)  # a step's axes are fixed: only the time axis may be open
        self.out_spatial = fixed_dims(layer.output_step(step).dims[:-1])
        window, ones = layer.kernel_size, (1,) * layer.rank
        input_pads = tf_padding(tuple(spatial), window, layer.strides, layer.dilation_rate, layer.padding)
        self.input_padding, self.input_explicit_pad = split_padding(input_pads)
        state_pads = tf_padding(self.out_spatial, window, ones, ones, "same")
        self.state_padding, self.state_explicit_pad = split_padding(state_pads)

        self.weight_ih = nn.Parameter(torch.empty(4 * layer.filters, channels, *window))
        self.weight_hh = nn.Parameter(torch.empty(4 * layer.filters, layer.filters, *window))
        self.bias = nn.Parameter(torch.empty(4 * layer.filters)) if layer.use_bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default conv initialisation; ``torch_impl.init`` applies Keras' initializers instead."""
        for weight in (self.weight_ih, self.weight_hh):
            nn.init.kaiming_uniform_(weight, a=5**0.5)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, initial_state: ConvLSTMState | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        batch, steps = x.shape[:2]
        gx = self._input_gates(x)  # (B, T, 4F, *S'): every timestep and gate in one convolution
        if initial_state is None:
            h = x.new_zeros(batch, self.filters, *self.out_spatial)
            c = torch.zeros_like(h)
        else:
            h, c = initial_state
        recurrent_masks = None
        if self.training and self.recurrent_dropout > 0:
            recurrent_masks = dropout_masks(h, self.recurrent_dropout, 4)  # (4, B, F, *S'), one per gate
        outputs = []
        # unbind: one view per timestep whose gradients autograd stacks once; indexing gx[:, t] instead
        # makes the backward zero-fill and add a whole gx-sized gradient per step (23% of a training step)
        per_step = gx.unbind(dim=1)
        for k in range(steps):
            t = steps - 1 - k if self.go_backwards else k
            i, f, g, o = (per_step[t] + self._recurrent_gates(h, recurrent_masks)).chunk(4, dim=1)
            c = self.recurrent_act(f) * c + self.recurrent_act(i) * self.act(g)
            h = self.recurrent_act(o) * self.act(c)
            if self.return_sequences:
                outputs.append(h)
        out = torch.stack(outputs, dim=1) if self.return_sequences else h  # processing order, like Keras
        return (out, h, c) if self.return_state else out

    def _input_gates(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.flatten(0, 1)  # (B*T, C, *S)
        if self.input_explicit_pad is not None:
            frames = F.pad(frames, self.input_explicit_pad)
        if self.training and self.input_dropout > 0:  # Keras: one mask per gate, the same for every timestep
            masks = dropout_masks(x[:, 0], self.input_dropout, 4)  # (4, B, C, *S)
            steps = x.shape[1]
            per_gate = []
            for mask, weight, bias in zip(masks, self.weight_ih.chunk(4), _chunks(self.bias), strict=True):
                masked = (x * mask[:, None]).flatten(0, 1)
                if self.input_explicit_pad is not None:
                    masked = F.pad(masked, self.input_explicit_pad)
                per_gate.append(self.convolution(masked, weight, bias, self.stride, self.input_padding, self.dilation))
            return torch.cat(per_gate, dim=1).unflatten(0, (x.shape[0], steps))
        gates = self.convolution(frames, self.weight_ih, self.bias, self.stride, self.input_padding, self.dilation)
        return gates.unflatten(0, x.shape[:2])

    def _recurrent_gates(self, h: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        if masks is None:
            return self._state_conv(h, self.weight_hh)
        return torch.cat([self._state_conv(h * m, w) for m, w in zip(masks, self.weight_hh.chunk(4), strict=True)], dim=1)

    def _state_conv(self, h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if self.state_explicit_pad is not None:
            h = F.pad(h, self.state_explicit_pad)
        return self.convolution(h, weight, None, 1, self.state_padding)

    def extra_repr(self) -> str:
        return (
            f"{self.weight_ih.shape[1]}, {self.filters}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"dilation={self.dilation}, input_padding={self.input_padding}, input_explicit_pad={self.input_explicit_pad}, "
            f"return_sequences={self.return_sequences}, go_backwards={self.go_backwards}"
        )


class ConvLSTM2d(ConvLSTMCell):
    """Keras ``ConvLSTM2D``: frames ``(B, T, C, H, W)`` -> frames ``(B, T, F, H', W')`` (``return_sequences``) or the last
    ``h`` ``(B, F, H', W')``; see :class:`ConvLSTMCell`."""

    def __init__(
        self, layer: ConvLSTM2D, frames: Shape, *, return_state: bool = False, softmax_dim: int = SPATIAL_CHANNEL_DIM
    ) -> None:
        super().__init__(layer, frames.grid, return_state=return_state, softmax_dim=softmax_dim)


class ConvLSTM1d(ConvLSTMCell):
    """Keras ``ConvLSTM1D`` in Keras' layout: 1D signals ``(B, T, L, C)`` -> ``(B, T, L', F)`` (``return_sequences``) or
    the last ``h`` ``(B, L', F)``, states ``(B, L', F)`` too; the cell runs on channels-first views of them."""

    def __init__(self, layer: ConvLSTM1D, signals: Shape, *, return_state: bool = False) -> None:
        super().__init__(layer, signals.item, return_state=return_state, softmax_dim=-2)

    def forward(self, x: torch.Tensor, initial_state: ConvLSTMState | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        state = None if initial_state is None else (initial_state[0].transpose(-1, -2), initial_state[1].transpose(-1, -2))
        out = super().forward(x.transpose(-1, -2), state)
        return tuple(o.transpose(-1, -2) for o in out) if isinstance(out, tuple) else out.transpose(-1, -2)


def _chunks(bias: torch.Tensor | None) -> list[torch.Tensor | None]:
    return list(bias.chunk(4)) if bias is not None else [None] * 4


def _build(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    if isinstance(layer, ConvLSTM1D):
        return ConvLSTM1d(layer, node.shapes.input)
    assert isinstance(layer, ConvLSTM2D)
    return ConvLSTM2d(layer, node.shapes.input, softmax_dim=keras_last_dim(CHANNELS_FIRST, data_format))


def _weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """kernel (*window, in, 4F) <-> weight_ih (4F, in, *window), recurrent_kernel (*window, F, 4F) <-> weight_hh, bias (4F,)."""
    assert isinstance(layer, ConvLSTM)
    cin, window, f = node.shapes.input.channels, layer.kernel_size, layer.filters
    keras_shapes: Shapes = {"kernel": (*window, cin, 4 * f), "recurrent_kernel": (*window, f, 4 * f)}
    torch_shapes: Shapes = {"weight_ih": (4 * f, cin, *window), "weight_hh": (4 * f, f, *window)}
    add_bias(layer.use_bias, keras_shapes, torch_shapes, 4 * f)
    return single_weights(layer, path, prefix, keras_shapes, torch_shapes, conv_lstm.keras_to_torch, conv_lstm.torch_to_keras)


register("conv_lstm2d", TorchKind(_build, spatial_rule, wants_channels_first=always, weights=_weights))
register("conv_lstm1d", TorchKind(_build, keras_rule, weights=_weights))  # Keras' layout in and out, as every 1D module
