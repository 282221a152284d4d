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
and output shapes (:meth:`~lstm2d.spec.ModelSpec.layer_shapes`, the sequence length fixed); the
counters assert the layer type and shapes that the spec gives their kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from lstm2d.spec import (
    GRU,
    LSTM,
    Bidirectional,
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    Dense,
    Frames,
    Grid,
    LayerShapes,
    ModelSpec,
    RecurrentLayer,
    Shape,
    SimpleRNN,
    Steps,
    Vector,
)


@dataclass(frozen=True)
class LayerFlops:
    """Matmul FLOPs of one layer for one sample.

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


def _time(shape: Shape) -> int:
    """The sequence length of frames or steps (:func:`count_layers` fixes it)."""
    assert isinstance(shape, (Frames, Steps)) and shape.time is not None, shape
    return shape.time


def _frames(shape: Shape) -> int:
    """How many grids a per-frame layer runs on per sample: the time steps of frames, 1 for a grid."""
    return _time(shape) if isinstance(shape, Frames) else 1


def _cells(shape: Shape) -> int:
    """Output positions per grid of a frames or grid shape."""
    assert isinstance(shape, (Frames, Grid)), shape
    return shape.height * shape.width


def _matmul(entry: LayerShapes, macs: int) -> LayerFlops:
    """A layer that is one matmul of ``macs`` multiply-adds: its weight and input gradients cost as much again each."""
    return LayerFlops(entry.layer.name, entry.layer.kind, 2 * macs, 2 * macs, 2 * macs)


def conv2d_flops(entry: LayerShapes) -> LayerFlops:
    """Frames ``(T, H, W, C_in)`` -> ``(T, H', W', filters)``: one ``kh*kw*C_in`` dot product per output cell and filter."""
    layer, inp = entry.layer, entry.input
    assert isinstance(layer, Conv2D) and isinstance(inp, (Frames, Grid))
    kh, kw = layer.kernel_size
    return _matmul(entry, _frames(inp) * _cells(entry.output) * layer.filters * kh * kw * inp.channels)


def conv3d_flops(entry: LayerShapes) -> LayerFlops:
    """Frames ``(T, H, W, C_in)`` -> ``(T', H', W', filters)``: one ``kt*kh*kw*C_in`` dot product per output cell and filter."""
    layer, inp, out = entry.layer, entry.input, entry.output
    assert isinstance(layer, Conv3D) and isinstance(inp, Frames)
    kernel = math.prod(layer.kernel_size) * inp.channels
    return _matmul(entry, _time(out) * _cells(out) * layer.filters * kernel)


def dense_flops(entry: LayerShapes) -> LayerFlops:
    """``(..., features) -> (..., units)``: one ``features x units`` matmul per leading position."""
    layer, inp = entry.layer, entry.input
    assert isinstance(layer, Dense) and isinstance(inp, (Steps, Vector))
    positions = _time(inp) if isinstance(inp, Steps) else 1
    return _matmul(entry, positions * inp.features * layer.units)


def _recurrent(layer: RecurrentLayer, inp: Shape) -> tuple[int, int]:
    """Multiply-adds of the input and the recurrent matmuls over a sequence ``(T, features)``.

    Per timestep the gates take ``x_t @ W`` (features x gates*U) and ``h @ U`` (U x gates*U); the step
    at t=0 multiplies the zero initial state too, as frameworks do, so it is counted.
    """
    assert isinstance(inp, Steps), inp
    time, features = _time(inp), inp.features
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


def recurrent_flops(entry: LayerShapes) -> LayerFlops:
    """LSTM (4 gates), GRU (3) or SimpleRNN (1) over a sequence ``(T, features)``."""
    layer = entry.layer
    assert isinstance(layer, (LSTM, GRU, SimpleRNN))
    return _recurrence(layer.name, layer.kind, *_recurrent(layer, entry.input))


def bidirectional_flops(entry: LayerShapes) -> LayerFlops:
    """Two copies of the wrapped layer over the same sequence; merging adds no matmul."""
    layer = entry.layer
    assert isinstance(layer, Bidirectional)
    input_macs, recurrent_macs = _recurrent(layer.layer, entry.input)
    return _recurrence(layer.name, layer.kind, 2 * input_macs, 2 * recurrent_macs)


def conv_lstm2d_flops(entry: LayerShapes) -> LayerFlops:
    """Frames ``(T, H, W, C_in)``; per timestep and output cell the 4 gates take a ``kh*kw*C_in`` input
    convolution and a ``kh*kw*filters`` recurrent one (``same``, stride 1, on the state's grid)."""
    layer, inp = entry.layer, entry.input
    assert isinstance(layer, ConvLSTM2D) and isinstance(inp, Frames)
    kh, kw = layer.kernel_size
    time = _time(inp)
    cells = _cells(entry.output) * 4 * layer.filters * kh * kw
    return _recurrence(layer.name, layer.kind, time * cells * inp.channels, time * cells * layer.filters)


def no_matmul(entry: LayerShapes) -> LayerFlops:
    """Pooling, flattening, normalisation, dropout, activations, masking: no multiply-adds, 0 matmul FLOPs."""
    return LayerFlops(entry.layer.name, entry.layer.kind, 0, 0, 0)


COUNTERS: dict[str, Callable[[LayerShapes], LayerFlops]] = {
    "conv2d": conv2d_flops,
    "conv3d": conv3d_flops,
    "dense": dense_flops,
    "lstm": recurrent_flops,
    "gru": recurrent_flops,
    "simple_rnn": recurrent_flops,
    "bidirectional": bidirectional_flops,
    "conv_lstm2d": conv_lstm2d_flops,
    "pool2d": no_matmul,
    "global_pool2d": no_matmul,
    "flatten": no_matmul,
    "batch_norm": no_matmul,
    "dropout": no_matmul,
    "activation": no_matmul,
    "masking": no_matmul,
}
"""One counter per layer kind; a test checks every kind of the spec has one."""


def count_layers(spec: ModelSpec, timesteps: int | None = None) -> list[LayerFlops]:
    """Per-layer matmul FLOPs for one sample of ``timesteps`` frames (default: the spec's own)."""
    steps = timesteps or spec.input.timesteps
    if steps is None:
        raise ValueError(f"{spec.name}: the spec leaves the sequence length open; pass timesteps")
    return [COUNTERS[entry.layer.kind](entry) for entry in spec.with_input(timesteps=steps).layer_shapes()]


@dataclass(frozen=True)
class StepFlops:
    """Matmul FLOPs of one sample's inference (forward) and training step (forward + backward)."""

    inference: int
    training: int


def step_flops(spec: ModelSpec, timesteps: int | None = None) -> StepFlops:
    """FLOPs per sample; no gradient flows into the data (see the module docstring)."""
    forward = backward = 0
    upstream_weights = False  # whether some layer before this one has weights that need its input gradient
    for f in count_layers(spec, timesteps):
        forward += f.forward
        backward += f.backward_weights + f.backward_internal + (f.backward_input if upstream_weights else 0)
        upstream_weights = upstream_weights or f.backward_weights > 0
    return StepFlops(inference=forward, training=forward + backward)
