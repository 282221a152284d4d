"""Keras ``LSTM``, ``GRU``, ``SimpleRNN`` and ``Bidirectional`` on torch's ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``.

The modules subclass torch's, so the parameters are exactly torch's (``weight_ih_l0`` (G*U, in),
``weight_hh_l0`` (G*U, U), ``bias_ih_l0``, ``bias_hh_l0`` (G*U,), and ``*_reverse`` for the backward
direction; gate order i, f, g, o for LSTM and r, z, n for GRU) and the common case runs torch's fused
kernel (cuDNN on CUDA, ATen/oneDNN on CPU) over the whole sequence. Where Keras has one bias (LSTM,
SimpleRNN, GRU ``reset_after=False``), ``bias_hh`` is frozen (``requires_grad=False``), so training
``model.parameters()`` moves the bias as Keras does. Keras semantics are added around it:

- ``go_backwards``: the sequence is processed last to first and returned in processing order.
- ``Bidirectional``: the backward direction's outputs are aligned to forward time (torch's
  ``bidirectional=True`` does this), then merged (concat, sum, mul, ave, or two outputs).
- Masks ``(B, T)`` (``True`` = a real step): Keras carries the state through masked steps and, with
  ``return_sequences``, repeats the previous output there (zeros inside a ``Bidirectional``, which
  forces ``zero_output_for_mask``). Right padding (every row a non-empty valid prefix) runs fused on
  packed sequences; any other mask runs on the exact step loop. Telling the two apart reads the mask's
  values, which an exported graph cannot do: with ``packed_masks = False`` (``torch_impl.export`` sets it)
  every mask runs on the step loop, right for any mask.
- Dropout in training: ``dropout`` multiplies the inputs by one mask per sequence (one per gate when
  ``recurrent_dropout`` is set, Keras' implementation 1), ``recurrent_dropout`` the previous output,
  per gate; identity at inference. Each direction of a Bidirectional draws its own masks.
- Settings no fused kernel implements run on an exact step loop (every step's input projection in
  one matmul, then one small matmul per step): non-default ``activation`` / ``recurrent_activation``,
  GRU ``reset_after=False`` (Keras 2's default: the reset gate applies before the recurrent matmul),
  SimpleRNN activations other than tanh / relu, recurrent dropout in training. Exact, but slower.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstm2d.spec import GRU, LSTM, Bidirectional, Layer, RecurrentLayer, SimpleRNN
from torch_impl.convert import recurrent
from torch_impl.kinds import Converter, LayerWeights, Outputs, Shapes, TorchKind, register, single_weights
from torch_impl.layers.activations import activation_fn
from torch_impl.layout import FeatureOrder, NodePlan, features_rule, with_input_order

RecurrentOutput = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
DirectionResult = tuple[torch.Tensor, torch.Tensor]  # (sequence (B, T, U) in Keras' order, last output (B, U))


def cpu_runs_bf16_rnn() -> bool:
    """Whether oneDNN can run torch's fused RNN kernels in bf16 on this CPU. torch hands bf16 RNNs to oneDNN even where
    oneDNN has no bf16 kernels (no AVX-512, or ``ONEDNN_MAX_CPU_ISA`` set below it), which then fails with "could not
    create a primitive descriptor for the LSTM forward propagation primitive"; there lstm2d runs the kernel in fp32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _bf16_on_cpu(x: torch.Tensor) -> bool:
    """Whether a kernel called on ``x`` would run in bf16 on the CPU (given bf16, or under bf16 autocast)."""
    if x.device.type != "cpu":
        return False
    return x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)


def right_padded_lengths(mask: torch.Tensor) -> torch.Tensor | None:
    """Per-row lengths ``(B,)`` on the CPU if every mask row is a non-empty valid prefix, else None."""
    lengths = mask.sum(dim=1)
    prefix = torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None]
    if bool((lengths > 0).all()) and torch.equal(prefix, mask):
        return lengths.cpu()
    return None


def reverse_prefixes(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Time reversed: the whole sequence, or each row's valid prefix ``x[b, :L_b]`` with the padding left in place."""
    if lengths is None:
        return x.flip(1)
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    last = lengths.to(x.device)[:, None] - 1
    source = torch.where(steps <= last, last - steps, steps)
    return x.gather(1, source[..., None].expand_as(x))


def masked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, masks: torch.Tensor | None) -> torch.Tensor:
    """``x W^T + b``; with dropout ``masks`` (M, ...) broadcastable to ``x``: one mask for all gates, or one per gate block."""
    if masks is None:
        return F.linear(x, weight, bias)
    if masks.shape[0] == 1:
        return F.linear(x * masks[0], weight, bias)
    count = masks.shape[0]
    biases = bias.chunk(count) if bias is not None else [None] * count
    return torch.cat([F.linear(x * m, w, b) for m, w, b in zip(masks, weight.chunk(count), biases, strict=True)], dim=-1)


def dropout_masks(like: torch.Tensor, rate: float, count: int) -> torch.Tensor:
    """``count`` Keras dropout masks shaped like ``like``: 0 with probability ``rate``, else 1 / (1 - rate)."""
    keep = torch.full((count, *like.shape), 1.0 - rate, dtype=like.dtype, device=like.device)
    return torch.bernoulli(keep) / (1.0 - rate)


class KerasRecurrent(nn.RNNBase):
    """Keras semantics on top of ``nn.RNNBase``; the subclasses add the cell and the fused kernel."""

    gates: int
    merges_bias: bool  # Keras has one bias where torch has bias_ih and bias_hh
    kernel: Callable[..., tuple[torch.Tensor, ...]]  # torch.lstm / torch.gru / torch.rnn_tanh / torch.rnn_relu

    def _configure(self, layer: RecurrentLayer, merge_mode: str | None) -> None:
        self.return_sequences = layer.return_sequences
        self.go_backwards = layer.go_backwards
        self.merge_mode = merge_mode
        self.input_dropout = float(layer.dropout)
        self.recurrent_dropout = float(layer.recurrent_dropout)
        self.activation_name = layer.activation
        self.act = activation_fn(layer.activation)
        self.zero_masked_outputs = self.bidirectional and self.return_sequences
        self.packed_masks = True  # right padding on the fused kernel; False: every mask on the step loop (export)

    def _freeze_merged_bias(self) -> None:
        """Where Keras has one bias, freeze ``bias_hh`` (kept at its value, zero after conversion): the cell only
        sees ``bias_ih + bias_hh``, and training both would move that sum twice as far as Keras moves its bias."""
        if self.bias and self.merges_bias:
            for name in self._flat_weights_names:
                if name.startswith("bias_hh"):
                    getattr(self, name).requires_grad_(False)

    @property
    def fused(self) -> bool:
        """Whether torch's fused kernel computes this layer's cell exactly."""
        raise NotImplementedError

    def _cell(
        self, gx: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w_hh: torch.Tensor, b_hh: torch.Tensor | None,
        recurrent_masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        """One step from the input projection ``gx`` (B, G*U) and the state: new ``h`` (B, U) and ``c`` (LSTM only)."""
        raise NotImplementedError

    # -- forward ---------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> RecurrentOutput:
        """``x`` (B, T, F), ``mask`` (B, T) bool or None -> (B, T, U') with ``return_sequences``, else (B, U').

        ``U'`` is ``U``, or ``2U`` for a concatenating ``Bidirectional``; ``merge_mode=None`` returns
        the two directions' outputs as a tuple.
        """
        self._update_flat_weights()  # as nn.LSTM does: parameters swapped in (functional_call, torch.export) are used
        lengths = right_padded_lengths(mask) if mask is not None and self.packed_masks else None
        directions = range(2 if self.bidirectional else 1)
        exact_loop = not self.fused or (self.training and self.recurrent_dropout > 0) or (mask is not None and lengths is None)
        if exact_loop:
            results = [self._loop(x, mask, d) for d in directions]
        elif self.training and self.input_dropout > 0:
            masked = [x * dropout_masks(x[:, 0], self.input_dropout, 1)[0][:, None] for _ in directions]  # own mask each
            results = [self._kernel_direction(x_d, lengths, d) for d, x_d in zip(directions, masked, strict=True)]
        else:
            results = self._kernel_all(x, lengths)
        return self._merge(results)

    def _kernel_all(self, x: torch.Tensor, lengths: torch.Tensor | None) -> list[DirectionResult]:
        """Every direction in one call of the fused kernel (both at once for a Bidirectional)."""
        if self.go_backwards:  # never in a Bidirectional (the spec forbids it)
            x = reverse_prefixes(x, lengths)
        seq, h_n = self._run_kernel(x, lengths, self._flat_weights, self.bidirectional)
        results = []
        for d in range(h_n.shape[0]):
            part = seq[..., d * self.hidden_size : (d + 1) * self.hidden_size]
            results.append((self._keras_masked_outputs(part, h_n[d], lengths), h_n[d]))
        return results

    def _kernel_direction(self, x: torch.Tensor, lengths: torch.Tensor | None, d: int) -> DirectionResult:
        """One direction through the fused kernel, on inputs of its own (per-direction dropout masks)."""
        per_direction = len(self._flat_weights) // (2 if self.bidirectional else 1)
        weights = self._flat_weights[d * per_direction : (d + 1) * per_direction]
        reverse = d == 1 or self.go_backwards
        seq, h_n = self._run_kernel(reverse_prefixes(x, lengths) if reverse else x, lengths, weights, False)
        if d == 1:
            return reverse_prefixes(seq, lengths), h_n[0]  # aligned to forward time; padding stays zero
        return self._keras_masked_outputs(seq, h_n[0], lengths), h_n[0]

    def _run_kernel(
        self, x: torch.Tensor, lengths: torch.Tensor | None, weights: list[torch.Tensor | None], bidirectional: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The fused kernel from zero state: outputs (B, T, D*U) (zeros at padding) and final ``h`` (D, B, U)."""
        if _bf16_on_cpu(x) and not cpu_runs_bf16_rnn():
            with torch.autocast("cpu", enabled=False):
                fp32 = [None if w is None else w.float() for w in weights]
                seq, h_n = self._run_kernel(x.float(), lengths, fp32, bidirectional)
            return seq.to(torch.bfloat16), h_n.to(torch.bfloat16)
        batch, steps = x.shape[:2]
        h0 = x.new_zeros(2 if bidirectional else 1, batch, self.hidden_size)
        hx = [h0, torch.zeros_like(h0)] if self.gates == 4 else h0
        if lengths is None:
            out = self.kernel(x, hx, weights, self.bias, 1, 0.0, self.training, bidirectional, True)
            return out[0], out[1]
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out = self.kernel(packed.data, packed.batch_sizes, hx, weights, self.bias, 1, 0.0, self.training, bidirectional)
        result = PackedSequence(out[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        seq, _ = pad_packed_sequence(result, batch_first=True, total_length=steps)
        assert packed.unsorted_indices is not None  # set by enforce_sorted=False
        return seq, out[1].index_select(1, packed.unsorted_indices)

    def _keras_masked_outputs(self, seq: torch.Tensor, last: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Keras' outputs at right padding: the last valid output repeated; zeros inside a Bidirectional.

        With ``go_backwards`` the valid steps were processed first (reversed) and the padding after, but
        Keras processes the padding first (state still zero, outputs zero): shift each row right by its padding.
        """
        if lengths is None or self.zero_masked_outputs:
            return seq
        steps = torch.arange(seq.shape[1], device=seq.device)[None, :]
        lengths = lengths.to(seq.device)[:, None]
        if not self.go_backwards:
            return torch.where((steps < lengths)[..., None], seq, last[:, None, :])
        padding = seq.shape[1] - lengths
        shifted = seq.gather(1, (steps - padding).clamp(min=0)[..., None].expand_as(seq))
        return torch.where((steps >= padding)[..., None], shifted, torch.zeros_like(shifted))

    def _loop(self, x: torch.Tensor, mask: torch.Tensor | None, d: int) -> DirectionResult:
        """The exact step loop for one direction: Keras' cell, masks, dropout and ordering, step by step."""
        suffix = "_reverse" if d == 1 else ""
        w_ih, w_hh = getattr(self, f"weight_ih_l0{suffix}"), getattr(self, f"weight_hh_l0{suffix}")
        b_ih = getattr(self, f"bias_ih_l0{suffix}") if self.bias else None
        b_hh = getattr(self, f"bias_hh_l0{suffix}") if self.bias else None
        per_gate = self.training and self.recurrent_dropout > 0 and self.gates > 1  # Keras' implementation 1
        input_masks = None
        if self.training and self.input_dropout > 0:  # one mask per sequence (per gate), the same at every step
            input_masks = dropout_masks(x[:, 0], self.input_dropout, self.gates if per_gate else 1)[:, :, None]  # (M, B, 1, F)
        gx = masked_linear(x, w_ih, b_ih, input_masks)  # (B, T, G*U): every step's input projection in one matmul
        per_step = gx.unbind(dim=1)  # views whose gradients autograd stacks once (gx[:, t] would zero-fill gx per step)
        batch, steps = x.shape[:2]
        h = x.new_zeros(batch, self.hidden_size)
        c = torch.zeros_like(h) if self.gates == 4 else None
        recurrent_masks = None
        if self.training and self.recurrent_dropout > 0:
            recurrent_masks = dropout_masks(h, self.recurrent_dropout, self.gates if per_gate else 1)
        reverse = d == 1 or self.go_backwards
        outputs, previous = [], h
        for k in range(steps):
            t = steps - 1 - k if reverse else k
            h_new, c_new = self._cell(per_step[t], h, c, w_hh, b_hh, recurrent_masks)
            if mask is None:
                h, c, out = h_new, c_new, h_new
            else:
                valid = mask[:, t, None]
                out = torch.where(valid, h_new, torch.zeros_like(h_new) if self.zero_masked_outputs else previous)
                h = torch.where(valid, h_new, h)
                c = torch.where(valid, c_new, c) if c is not None and c_new is not None else None
            outputs.append(out)
            previous = out
        seq = torch.stack(outputs, dim=1)  # (B, T, U) in processing order
        return (seq.flip(1) if d == 1 else seq), h

    def _merge(self, results: list[DirectionResult]) -> RecurrentOutput:
        outs = [seq if self.return_sequences else last for seq, last in results]
        if len(outs) == 1:
            return outs[0]
        forward, backward = outs
        if self.merge_mode == "concat":
            return torch.cat([forward, backward], dim=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mul":
            return forward * backward
        if self.merge_mode == "ave":
            return (forward + backward) / 2
        return forward, backward

    def extra_repr(self) -> str:
        parts = [super().extra_repr(), f"activation={self.activation_name}"]
        if self.go_backwards:
            parts.append("go_backwards=True")
        if self.bidirectional:
            parts.append(f"merge_mode={self.merge_mode}")
        parts.append("fused kernel" if self.fused else "exact step loop")
        return ", ".join(parts)


class KerasLSTM(KerasRecurrent, nn.LSTM):  # type: ignore[misc]  # Keras' forward(x, mask) replaces nn.LSTM.forward(input, hx)
    """Keras ``LSTM`` (gates i, f, c, o, as torch's i, f, g, o); see the module docstring."""

    gates = 4

    def __init__(self, layer: LSTM, in_features: int, *, bidirectional: bool = False, merge_mode: str | None = None) -> None:
        nn.LSTM.__init__(self, in_features, layer.units, bias=layer.use_bias, batch_first=True, bidirectional=bidirectional)
        self._configure(layer, merge_mode)
        self.recurrent_activation_name = layer.recurrent_activation
        self.recurrent_act = activation_fn(layer.recurrent_activation)
        self.merges_bias = True
        self._freeze_merged_bias()
        self.kernel = torch.lstm

    @property
    def fused(self) -> bool:
        return self.activation_name == "tanh" and self.recurrent_activation_name == "sigmoid"

    def _cell(
        self, gx: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w_hh: torch.Tensor, b_hh: torch.Tensor | None,
        recurrent_masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        assert c is not None  # the loop gives an LSTM its cell state
        i, f, g, o = (gx + masked_linear(h, w_hh, b_hh, recurrent_masks)).chunk(4, dim=-1)
        c = self.recurrent_act(f) * c + self.recurrent_act(i) * self.act(g)
        return self.recurrent_act(o) * self.act(c), c


class KerasGRU(KerasRecurrent, nn.GRU):  # type: ignore[misc]  # Keras' forward(x, mask) replaces nn.GRU.forward(input, hx)
    """Keras ``GRU`` (Keras gates z, r, h; torch's order r, z, n, which the converter maps)."""

    gates = 3

    def __init__(self, layer: GRU, in_features: int, *, bidirectional: bool = False, merge_mode: str | None = None) -> None:
        nn.GRU.__init__(self, in_features, layer.units, bias=layer.use_bias, batch_first=True, bidirectional=bidirectional)
        self._configure(layer, merge_mode)
        self.recurrent_activation_name = layer.recurrent_activation
        self.recurrent_act = activation_fn(layer.recurrent_activation)
        self.reset_after = layer.reset_after
        self.merges_bias = not layer.reset_after  # reset_after: Keras keeps both biases too
        self._freeze_merged_bias()
        self.kernel = torch.gru

    @property
    def fused(self) -> bool:
        return self.reset_after and self.activation_name == "tanh" and self.recurrent_activation_name == "sigmoid"

    def _cell(
        self, gx: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w_hh: torch.Tensor, b_hh: torch.Tensor | None,
        recurrent_masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        x_r, x_z, x_n = gx.chunk(3, dim=-1)
        if self.reset_after:
            h_r, h_z, h_n = masked_linear(h, w_hh, b_hh, recurrent_masks).chunk(3, dim=-1)
            r, z = self.recurrent_act(x_r + h_r), self.recurrent_act(x_z + h_z)
            n = self.act(x_n + r * h_n)
        else:  # the reset gate scales h before the recurrent matmul of the candidate (Keras 2's GRU)
            units = self.hidden_size
            masks_rz = masks_n = recurrent_masks
            if recurrent_masks is not None and recurrent_masks.shape[0] == 3:
                masks_rz, masks_n = recurrent_masks[:2], recurrent_masks[2:]
            b_rz, b_n = (b_hh[: 2 * units], b_hh[2 * units :]) if b_hh is not None else (None, None)
            h_r, h_z = masked_linear(h, w_hh[: 2 * units], b_rz, masks_rz).chunk(2, dim=-1)
            r, z = self.recurrent_act(x_r + h_r), self.recurrent_act(x_z + h_z)
            n = self.act(x_n + masked_linear(r * h, w_hh[2 * units :], b_n, masks_n))
        return (1 - z) * n + z * h, None


class KerasSimpleRNN(KerasRecurrent, nn.RNN):  # type: ignore[misc]  # Keras' forward(x, mask) replaces nn.RNN.forward(input, hx)
    """Keras ``SimpleRNN``: ``h = activation(x W + b + h U)`` (torch keeps two biases; the converter sums them)."""

    gates = 1

    def __init__(self, layer: SimpleRNN, in_features: int, *, bidirectional: bool = False, merge_mode: str | None = None) -> None:
        nonlinearity = "relu" if layer.activation == "relu" else "tanh"
        nn.RNN.__init__(
            self, in_features, layer.units, nonlinearity=nonlinearity, bias=layer.use_bias, batch_first=True,
            bidirectional=bidirectional,
        )  # fmt: skip
        self._configure(layer, merge_mode)
        self.merges_bias = True
        self._freeze_merged_bias()
        self.kernel = torch.rnn_relu if nonlinearity == "relu" else torch.rnn_tanh

    @property
    def fused(self) -> bool:
        return self.activation_name in ("tanh", "relu")

    def _cell(
        self, gx: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w_hh: torch.Tensor, b_hh: torch.Tensor | None,
        recurrent_masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        return self.act(gx + masked_linear(h, w_hh, b_hh, recurrent_masks)), None


def build_recurrent(layer: RecurrentLayer | Bidirectional, in_features: int) -> KerasRecurrent:
    """The torch module for a recurrent spec layer (a Bidirectional is one module with ``*_reverse`` weights)."""
    if isinstance(layer, Bidirectional):
        wrapped, bidirectional, merge_mode = layer.layer, True, layer.merge_mode
    else:
        wrapped, bidirectional, merge_mode = layer, False, None
    if isinstance(wrapped, LSTM):
        return KerasLSTM(wrapped, in_features, bidirectional=bidirectional, merge_mode=merge_mode)
    if isinstance(wrapped, GRU):
        return KerasGRU(wrapped, in_features, bidirectional=bidirectional, merge_mode=merge_mode)
    return KerasSimpleRNN(wrapped, in_features, bidirectional=bidirectional, merge_mode=merge_mode)


# -- registry entries ---------------------------------------------------------------------------------------------

DIRECTIONS = (("forward", ""), ("backward", "_reverse"))  # Keras' sub-layer prefix, torch's parameter suffix


def _build(layer: Layer, node: NodePlan, data_format: str) -> nn.Module:
    assert isinstance(layer, (LSTM, GRU, SimpleRNN, Bidirectional))
    return build_recurrent(layer, node.shapes.input.features)


def _call(module: nn.Module, inputs: list[torch.Tensor], mask: torch.Tensor | None, layer: Layer) -> Outputs:
    """Recurrent layers read the mask; with return_sequences their output carries it on."""
    out = module(inputs[0], mask)
    return (tuple(out) if isinstance(out, tuple) else (out,)), (mask if layer.keeps_mask() else None)


def _shapes(layer: RecurrentLayer, n_in: int) -> tuple[Shapes, Shapes, bool]:
    """Keras and torch shapes of one direction, and whether Keras keeps two biases (GRU reset_after)."""
    g, u = layer.gates * layer.units, layer.units
    split_bias = isinstance(layer, GRU) and layer.reset_after
    keras_shapes: Shapes = {"kernel": (n_in, g), "recurrent_kernel": (u, g)}
    torch_shapes: Shapes = {"weight_ih_l0": (g, n_in), "weight_hh_l0": (g, u)}
    if layer.use_bias:
        keras_shapes["bias"] = (2, g) if split_bias else (g,)
        torch_shapes.update(bias_ih_l0=(g,), bias_hh_l0=(g,))
    return keras_shapes, torch_shapes, split_bias


def _one_direction(layer: RecurrentLayer, n_in: int, order: FeatureOrder | None) -> tuple[Shapes, Shapes, Converter, Converter]:
    keras_shapes, torch_shapes, split_bias = _shapes(layer, n_in)
    to_torch = with_input_order(partial(recurrent.keras_to_torch, kind=layer.kind), order)
    to_keras = with_input_order(partial(recurrent.torch_to_keras, kind=layer.kind, split_bias=split_bias), order)
    return keras_shapes, torch_shapes, to_torch, to_keras


def _weights(layer: Layer, node: NodePlan, path: str, prefix: str) -> list[LayerWeights]:
    """One direction as ``recurrent`` converts it; a Bidirectional is the inner layer twice: Keras ``forward/<var>`` and
    ``backward/<var>``, torch ``<param>`` and ``<param>_reverse``."""
    n_in, order = node.shapes.input.features, node.layouts.inputs[0].order
    if not isinstance(layer, Bidirectional):
        assert isinstance(layer, (LSTM, GRU, SimpleRNN))
        return single_weights(layer, path, prefix, *_one_direction(layer, n_in, order))
    keras_one, torch_one, one_to_torch, one_to_keras = _one_direction(layer.layer, n_in, order)
    keras_shapes = {f"{side}/{key}": s for side, _ in DIRECTIONS for key, s in keras_one.items()}
    torch_shapes = {f"{key}{suffix}": s for _, suffix in DIRECTIONS for key, s in torch_one.items()}

    def to_torch(**arrays: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for side, suffix in DIRECTIONS:
            one = one_to_torch(**{key: arrays[f"{side}/{key}"] for key in keras_one})
            out.update({f"{key}{suffix}": value for key, value in one.items()})
        return out

    def to_keras(**arrays: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for side, suffix in DIRECTIONS:
            one = one_to_keras(**{key: arrays[f"{key}{suffix}"] for key in torch_one})
            out.update({f"{side}/{key}": value for key, value in one.items()})
        return out

    return single_weights(layer, path, prefix, keras_shapes, torch_shapes, to_torch, to_keras)


for _kind in ("lstm", "gru", "simple_rnn", "bidirectional"):
    register(_kind, TorchKind(_build, features_rule, weights=_weights, call=_call))
