"""Analytic FLOP count of one model step, so a throughput reads as a fraction of the matmul peak.

Conventions (the usual "model FLOPs" ones):

- one multiply-add is 2 FLOPs; only matmul-like work is counted (convolutions, the LSTM's
  gate matmuls, Dense). Bias adds, activations, pooling comparisons and the LSTM's gate
  nonlinearities are not: the matmul peak they are compared with does none of them either.
- a training step is forward + backward. Backward costs, per layer, the weight gradient
  (as many FLOPs as the forward) and the input gradient (as many again), except that no
  gradient flows into the data, so layers up to and including the first one with weights
  skip the part of their input gradient that would reach it (an LSTM still propagates
  through its recurrence).
- counts are per sample; multiply by the batch size for a whole step.

Each layer kind has one counter in :data:`COUNTERS`, fed the layer with its per-sample input
and output shapes (:meth:`~lstm2d.spec.ModelSpec.layer_shapes`, the sequence length fixed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from lstm2d.spec import (
    GRU,
    LSTM,
    Bidirectional,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv3D,
    Conv3DTranspose,
    ConvLSTM,
    ConvTranspose,
    Dense,
    DepthwiseConv,
    ModelSpec,
    NodeShapes,
    RecurrentLayer,
    SeparableConv2D,
    Shape,
    SimpleRNN,
    Submodel,
    TimeDistributed,
    resolve_ref,
)


@dataclass(frozen=True)
class LayerFlops:
    """Matmul FLOPs of one layer call for one sample.

    ``backward_input`` is the part of the input gradient that reaches the layer's input
    (skipped where nothing upstream has weights); ``backward_internal`` is gradient work every layer
    must do whatever its position (a recurrent layer's backward through its recurrence).
    """

    name: str
    kind: str
    forward: int
    backward_weights: int
    backward_input: int
    backward_internal: int = 0


def _frames(shape: Shape) -> int:
    """How many grids a per-frame layer runs on per sample: the time steps of frames, 1 for a grid."""
    return (shape.time or 1) if shape.rank == 4 else 1


def _cells(shape: Shape) -> int:
    """Output positions per grid of a frames or grid shape."""
    return shape.height * shape.width


def _matmul(entry: NodeShapes, macs: int) -> LayerFlops:
    """A layer that is one matmul of ``macs`` multiply-adds: its weight and input gradients cost as much again each."""
    return LayerFlops(entry.layer.name, entry.layer.kind, 2 * macs, 2 * macs, 2 * macs)


def conv2d_flops(entry: NodeShapes) -> list[LayerFlops]:
    """Frames ``(T, H, W, C_in)`` -> ``(T, H', W', filters)``: one ``kh*kw*C_in`` dot product per output cell and filter."""
    layer = entry.layer
    assert isinstance(layer, Conv2D)
    kh, kw = layer.kernel_size
    return [_matmul(entry, _frames(entry.input) * _cells(entry.output) * layer.filters * kh * kw * entry.input.channels)]


def conv3d_flops(entry: NodeShapes) -> list[LayerFlops]:
    """Frames ``(T, H, W, C_in)`` -> ``(T', H', W', filters)``: one ``kt*kh*kw*C_in`` dot product per output cell and filter."""
    layer, out = entry.layer, entry.output
    assert isinstance(layer, Conv3D)
    kernel = math.prod(layer.kernel_size) * entry.input.channels
    return [_matmul(entry, (out.time or 1) * _cells(out) * layer.filters * kernel)]


def conv_transpose_flops(entry: NodeShapes) -> list[LayerFlops]:
    """Conv2DTranspose on frames or a grid, Conv3DTranspose on frames: every input cell (of every frame, or of the
    volume) scattered through the ``kernel`` window from ``C_in`` channels into ``filters``."""
    layer, inp = entry.layer, entry.input
    assert isinstance(layer, ConvTranspose)
    cells = (inp.time or 1) * _cells(inp) if isinstance(layer, Conv3DTranspose) else _frames(inp) * _cells(inp)
    return [_matmul(entry, cells * math.prod(layer.kernel_size) * inp.channels * layer.filters)]


def depthwise_flops(entry: NodeShapes) -> list[LayerFlops]:
    """DepthwiseConv2D: a ``kh*kw`` dot product per output cell and output channel (``C_in * depth_multiplier``);
    SeparableConv2D adds a ``C_in * depth_multiplier`` -> ``filters`` 1x1 convolution per output cell."""
    layer = entry.layer
    assert isinstance(layer, DepthwiseConv)
    cells = _frames(entry.input) * _cells(entry.output)
    channels = entry.input.channels * layer.depth_multiplier
    pointwise = channels * layer.filters if isinstance(layer, SeparableConv2D) else 0
    return [_matmul(entry, cells * (math.prod(layer.kernel_size) * channels + pointwise))]


def dense_flops(entry: NodeShapes) -> list[LayerFlops]:
    """``(..., features) -> (..., units)``: one ``features x units`` matmul per leading position."""
    layer = entry.layer
    assert isinstance(layer, Dense)
    return [_matmul(entry, entry.input.size * layer.units)]


def _recurrent(layer: RecurrentLayer, inp: Shape) -> tuple[int, int]:
    """Multiply-adds of the input and the recurrent matmuls over a sequence ``(T, features)``.

    Per timestep the gates take ``x_t @ W`` (features x gates*U) and ``h @ U`` (U x gates*U); the step
    at t=0 multiplies the zero initial state too, as frameworks do, so it is counted.
    """
    time, features = inp.time or 1, inp.features
    width = layer.gates * layer.units
    return time * features * width, time * layer.units * width


def _recurrence(name: str, kind: str, input_macs: int, recurrent_macs: int) -> LayerFlops:
    """Backward: both matmuls' weight gradients, the input gradient of the input matmul, and the
    gradient through the recurrence, which every recurrent layer computes whatever its position."""
    return LayerFlops(
        name,
        kind,
        forward=2 * (input_macs + recurrent_macs),
        backward_weights=2 * (input_macs + recurrent_macs),
        backward_input=2 * input_macs,
        backward_internal=2 * recurrent_macs,
    )


def recurrent_flops(entry: NodeShapes) -> list[LayerFlops]:
    """LSTM (4 gates), GRU (3) or SimpleRNN (1) over a sequence ``(T, features)``; a Bidirectional runs two copies of the
    wrapped layer over the same sequence (merging adds no matmul)."""
    layer, copies = entry.layer, 1
    if isinstance(layer, Bidirectional):
        layer, copies = layer.layer, 2
    assert isinstance(layer, (LSTM, GRU, SimpleRNN))
    input_macs, recurrent_macs = _recurrent(layer, entry.input)
    return [_recurrence(entry.layer.name, entry.layer.kind, copies * input_macs, copies * recurrent_macs)]


def _signals(shape: Shape) -> int:
    """How many 1D signals a 1D layer runs on per sample: one per step of 1D signals ``(T, L, C)``, one for a sequence."""
    return (shape.time or 1) if shape.rank == 3 else 1


def conv1d_flops(entry: NodeShapes) -> list[LayerFlops]:
    """A sequence ``(T, C_in)`` -> ``(T', filters)``, or each step's signal of ``(T, L, C_in)`` -> ``(T, L', filters)``: one
    ``k*C_in/groups`` dot product per output position and filter."""
    layer, out = entry.layer, entry.output
    assert isinstance(layer, Conv1D)
    length = out.dims[-2] or 1
    (k,) = layer.kernel_size
    return [_matmul(entry, _signals(entry.input) * length * layer.filters * k * entry.input.channels // layer.groups)]


def conv1d_transpose_flops(entry: NodeShapes) -> list[LayerFlops]:
    """The adjoint of a Conv1D: every input position times the whole ``k x C_in x filters`` kernel."""
    layer, inp = entry.layer, entry.input
    assert isinstance(layer, Conv1DTranspose)
    (k,) = layer.kernel_size
    return [_matmul(entry, _signals(inp) * (inp.dims[-2] or 1) * inp.channels * layer.filters * k)]


def conv_lstm_flops(entry: NodeShapes) -> list[LayerFlops]:
    """Steps ``(T, *S, C_in)`` (frames for ConvLSTM2D, 1D signals for ConvLSTM1D); per timestep and output cell the 4
    gates take a ``window*C_in`` input convolution and a ``window*filters`` recurrent one (``same``, stride 1, on the
    state's cells)."""
    layer = entry.layer
    assert isinstance(layer, ConvLSTM)
    time = entry.input.time or 1
    cells = math.prod(d or 1 for d in entry.output.dims[-1 - layer.rank : -1]) * 4 * layer.filters * math.prod(layer.kernel_size)
    return [_recurrence(layer.name, layer.kind, time * cells * entry.input.channels, time * cells * layer.filters)]


def submodel_flops(entry: NodeShapes) -> list[LayerFlops]:
    """A nested model: its own layers' calls, on the shapes it is given."""
    layer = entry.layer
    assert isinstance(layer, Submodel)
    given = {i.name: shape for i, shape in zip(layer.spec.inputs, entry.inputs, strict=True)}
    return [f for inner in layer.spec.infer(given).nodes for f in COUNTERS[inner.layer.kind](inner)]


def time_distributed_flops(entry: NodeShapes) -> list[LayerFlops]:
    """The wrapped layer on every step: its count on one step, times the steps."""
    layer = entry.layer
    assert isinstance(layer, TimeDistributed)
    steps = entry.input.time or 1
    per_step = COUNTERS[layer.layer.kind](entry.step(layer.layer))
    return [
        LayerFlops(f.name, f.kind, *(steps * n for n in (f.forward, f.backward_weights, f.backward_input, f.backward_internal)))
        for f in per_step
    ]


def no_matmul(entry: NodeShapes) -> list[LayerFlops]:
    """Pooling, flattening, reshaping, padding, cropping, upsampling, merging, normalisation, dropout, activations,
    masking: no multiply-adds."""
    return [LayerFlops(entry.layer.name, entry.layer.kind, 0, 0, 0)]


NO_MATMUL = (
    "pool2d", "global_pool2d", "flatten", "reshape", "repeat_vector", "batch_norm", "dropout", "activation", "masking",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "pool1d", "global_pool1d",
    "zero_padding1d", "cropping1d", "up_sampling1d",
    "permute", "layer_norm", "group_norm", "unit_norm", "rms_norm", "normalization", "rescaling", "gaussian_noise",
    "gaussian_dropout", "alpha_dropout", "activity_regularization", "relu", "leaky_relu", "prelu", "elu", "softmax",
    "pool3d", "global_pool3d", "zero_padding2d", "zero_padding3d", "cropping2d", "cropping3d", "up_sampling2d",
    "up_sampling3d", "spatial_dropout2d", "spatial_dropout3d",
)  # fmt: skip
COUNTERS: dict[str, Callable[[NodeShapes], list[LayerFlops]]] = {
    "conv2d": conv2d_flops,
    "conv3d": conv3d_flops,
    "conv2d_transpose": conv_transpose_flops,
    "conv3d_transpose": conv_transpose_flops,
    "depthwise_conv2d": depthwise_flops,
    "separable_conv2d": depthwise_flops,
    "dense": dense_flops,
    "lstm": recurrent_flops,
    "gru": recurrent_flops,
    "simple_rnn": recurrent_flops,
    "bidirectional": recurrent_flops,
    "conv_lstm2d": conv_lstm_flops,
    "conv_lstm1d": conv_lstm_flops,
    "conv1d": conv1d_flops,
    "conv1d_transpose": conv1d_transpose_flops,
    "model": submodel_flops,
    "time_distributed": time_distributed_flops,
    **dict.fromkeys(NO_MATMUL, no_matmul),
}
"""One counter per layer kind (a call's matmul FLOPs, those of the layers it holds included); a test checks that
every kind has one."""


def count_layers(spec: ModelSpec, timesteps: int | None = None) -> list[LayerFlops]:
    """Per-call matmul FLOPs for one sample of ``timesteps`` steps (default: the spec's own), in model order."""
    return [f for entry in _fixed(spec, timesteps).infer().nodes for f in COUNTERS[entry.layer.kind](entry)]


def _fixed(spec: ModelSpec, timesteps: int | None) -> ModelSpec:
    if timesteps is not None:
        return spec.with_timesteps(timesteps)
    if any(i.shape[0] is None for i in spec.inputs):
        raise ValueError(f"{spec.name}: the spec leaves the sequence length open; pass timesteps")
    return spec


@dataclass(frozen=True)
class StepFlops:
    """Matmul FLOPs of one sample's inference (forward) and training step (forward + backward)."""

    inference: int
    training: int


def step_flops(spec: ModelSpec, timesteps: int | None = None) -> StepFlops:
    """FLOPs per sample; no gradient flows into the data, so a call's input gradient counts only where some call
    before it on the way from the inputs has weights (see the module docstring)."""
    spec = _fixed(spec, timesteps)
    inference = spec.infer()
    upstream: dict[str, bool] = dict.fromkeys(spec.input_names, False)  # tensor -> some weighted call leads to it
    forward = backward = 0
    for entry in inference.nodes:
        needs = any(upstream[resolve_ref(ref, inference.shapes, entry.layer.label)] for ref in entry.node.inputs)
        weighted = False
        for f in COUNTERS[entry.layer.kind](entry):
            forward += f.forward
            backward += f.backward_weights + f.backward_internal + (f.backward_input if needs or weighted else 0)
            weighted = weighted or f.backward_weights > 0
        for ref in entry.output_refs:
            upstream[ref] = needs or weighted
    return StepFlops(inference=forward, training=forward + backward)
