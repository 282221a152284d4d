"""The torch model built from a :class:`~lstm2d.spec.ModelSpec`."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from lstm2d.spec import RECURRENT_TYPES as SPEC_RECURRENT_TYPES
from lstm2d.spec import (
    Activation,
    BatchNorm,
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    Dense,
    Dropout,
    Flatten,
    Frames,
    GlobalPool2D,
    Grid,
    LayerShapes,
    Masking,
    ModelSpec,
    Pool2D,
    Shape,
    Steps,
    Vector,
)
from torch_impl.layers import (
    ConvLSTM2d,
    DenseLayer,
    FlattenFrames,
    FrameConv2d,
    FrameConv3d,
    FramePool2d,
    GlobalPool2d,
    KerasBatchNorm,
    MaskingLayer,
    build_recurrent,
    make_activation,
)
from torch_impl.layers.conv_pool import Stage, fuse_conv_pool
from torch_impl.layers.frames import keras_last_axis, time_major_storage
from torch_impl.layers.recurrent import KerasRecurrent

InputLayout = Literal["channels_first", "channels_last"]
INPUT_LAYOUTS: tuple[str, ...] = ("channels_first", "channels_last")
ModelOutput = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def build_layer(entry: LayerShapes, data_format: str = "channels_last") -> nn.Module:
    """The torch module for one spec layer, given the shape it receives, in a spec of ``data_format``.

    The torch modules are the same for both data formats, except where Keras' softmax reduces over its
    layout's last axis (``keras_last_axis``): the channels of channels_last frames, the width of channels_first ones.
    """
    layer, shape = entry.layer, entry.input
    spatial = isinstance(shape, (Frames, Grid))
    if isinstance(layer, Conv2D):
        return FrameConv2d(layer, _grid(shape), softmax_dim=keras_last_axis(data_format))
    if isinstance(layer, Pool2D):
        return FramePool2d(layer, _grid(shape))
    if isinstance(layer, GlobalPool2D):
        return GlobalPool2d(layer.mode)
    if isinstance(layer, Flatten):
        return FlattenFrames()
    if isinstance(layer, BatchNorm):
        return KerasBatchNorm(layer, layer.features(shape), spatial=spatial)
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.rate)
    if isinstance(layer, Activation):
        return make_activation(layer.activation, channel_dim=keras_last_axis(data_format) if spatial else -1)
    if isinstance(layer, Masking):
        return MaskingLayer(layer.mask_value)
    if isinstance(layer, Dense):
        return DenseLayer(layer, _features(shape))
    if isinstance(layer, ConvLSTM2D):
        return ConvLSTM2d(layer, _frames(shape), softmax_dim=keras_last_axis(data_format))
    if isinstance(layer, Conv3D):
        return FrameConv3d(layer, _frames(shape))
    return build_recurrent(layer, _features(shape))


FRAME_OPS = (Conv2D, Pool2D, GlobalPool2D, Flatten, Activation, Dropout)
"""Layers that act on each frame (or element) alone: they run the same on frames stored batch- or time-major."""


def feeds_recurrent_kernel(spec: ModelSpec) -> bool:
    """Whether the model should store its input time-major: per-frame layers with a Conv2D, then a recurrent layer.

    The frames then flow through the per-frame layers in ``T*B`` order (views, no copies) and reach
    the recurrent layer's fused kernel in the ``(T, B, F)`` memory it reads; batch-major memory costs
    a transposing copy of the kernel's (here larger) input forward and of its gradient backward, where
    time-major costs one copy of the model's input. Measured on one thread, seed-cnn: training
    +9% (batch 64) and +14% (batch 256), inference +4% and +19%. Without a Conv2D (seed-flat: Flatten
    then LSTM) the copy only moves, and the input stays as it is.
    """
    has_conv = False
    for layer in spec.layers:
        if isinstance(layer, SPEC_RECURRENT_TYPES):
            return has_conv
        if not isinstance(layer, FRAME_OPS):
            return False
        has_conv = has_conv or isinstance(layer, Conv2D)
    return False


def _frames(shape: Shape) -> Frames:
    assert isinstance(shape, Frames), shape  # what the spec gives a ConvLSTM2D or Conv3D
    return shape


def _grid(shape: Shape) -> Grid:
    assert isinstance(shape, (Frames, Grid)), shape  # what the spec gives a 2D layer
    return shape.grid if isinstance(shape, Frames) else shape


def _features(shape: Shape) -> int:
    assert isinstance(shape, (Steps, Vector)), shape  # what the spec gives a Dense or recurrent layer
    return shape.features


class Lstm2dNet(nn.Module):
    """The spec's layers as native torch modules, run in order.

    Input: ``(batch, time, channels, height, width)`` (``input_layout="channels_first"``, the
    native layout, and a ``channels_first`` Keras model's) or ``(batch, time, height, width, channels)``
    (``input_layout="channels_last"``, Keras' default layout, permuted once at the entry; frame or grid
    outputs are permuted back at the exit). Inside, tensors keep torch's layouts: frames ``(B, T, C, H, W)``,
    a grid ``(B, C, H, W)``, a sequence ``(B, T, F)``, a vector ``(B, F)``. Per-frame layers run once over
    all ``B*T`` frames; flattening is torch's natural (C, H, W) order, any difference from the Keras
    model's flatten order living in the converted weights of the next layer, not here.

    A Conv2D followed by a max pool that tiles its output runs as one fused op on the CPU
    (:meth:`fuse_conv_pool`). Where per-frame layers lead to a recurrent layer, the input is stored
    time-major at the entry (:func:`feeds_recurrent_kernel`; shapes and values are unchanged).
    Submodules are named after the spec's layers: state-dict keys read ``layers.<name>.weight``,
    ``layers.<lstm name>.weight_ih_l0``, ``layers.<bn name>.running_mean``.
    """

    def __init__(self, spec: ModelSpec, *, input_layout: InputLayout = "channels_first") -> None:
        super().__init__()
        if input_layout not in INPUT_LAYOUTS:
            raise ValueError(f"input_layout: expected one of {INPUT_LAYOUTS}, got {input_layout!r}")
        self.spec = spec
        self.input_layout = input_layout
        shapes = spec.layer_shapes()
        self.layers = nn.ModuleDict({entry.layer.name: build_layer(entry, spec.data_format) for entry in shapes})
        self.output_kind = type(shapes[-1].output)
        self._fused_stages = fuse_conv_pool(list(self.layers.values()), shapes)
        self._stages: tuple[Stage, ...] = self._fused_stages
        self.time_major_entry = feeds_recurrent_kernel(spec)

    def fuse_conv_pool(self, enabled: bool = True) -> None:
        """Run each fusable Conv2D -> MaxPool pair as one op on the CPU (the default; see
        :mod:`torch_impl.layers.conv_pool`), or, with ``enabled=False``, every layer's module in turn.
        Parameters and results are the same either way; only speed and memory differ."""
        self._stages = self._fused_stages if enabled else tuple(self.layers.values())

    @property
    def expected_input_shape(self) -> tuple[int | None, ...]:
        """Expected input shape, ``None`` for free axes (batch, and time when the spec leaves it open)."""
        inp = self.spec.input
        if self.input_layout == "channels_first":
            return (None, inp.timesteps, inp.channels, inp.height, inp.width)
        return (None, inp.timesteps, inp.height, inp.width, inp.channels)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        self._check_input(x)
        if self.input_layout == "channels_last":
            x = x.permute(0, 1, 4, 2, 3)  # (B, T, H, W, C) -> (B, T, C, H, W)
        if self.time_major_entry:
            x = time_major_storage(x)  # same values and shape; see feeds_recurrent_kernel
        mask: torch.Tensor | None = None
        out: ModelOutput = x
        for module in self._stages:
            if isinstance(module, MaskingLayer):
                out, mask = module(out)
            elif isinstance(module, KerasRecurrent):
                out = module(out, mask)
                mask = mask if module.return_sequences else None
            else:
                assert isinstance(out, torch.Tensor)  # only the last layer can return two outputs
                out = module(out)
        if self.input_layout == "channels_last" and self.output_kind in (Frames, Grid):
            assert isinstance(out, torch.Tensor)  # frames and grids are one output
            out = out.movedim(-3, -1)  # channels back to the last axis
        return out

    def flatten_parameters(self) -> None:
        """Compact every recurrent layer's weights into one buffer (cuDNN wants this after weights are loaded)."""
        for module in self.layers.values():
            if isinstance(module, nn.RNNBase):
                module.flatten_parameters()

    def _check_input(self, x: torch.Tensor) -> None:
        expected = self.expected_input_shape
        shape = tuple(x.shape)
        if (
            x.ndim == len(expected)
            and all(e is None or e == s for e, s in zip(expected, shape, strict=True))
            and shape[0] > 0
            and shape[1] > 0
        ):
            if not x.is_floating_point():
                raise ValueError(f"expected a floating-point input, got dtype {x.dtype}")
            return
        raise ValueError(
            f"expected input {_axes(self.input_layout)} = {_format_shape(expected)}, got {shape}" + _input_hint(self, shape)
        )


def _axes(layout: str) -> str:
    if layout == "channels_first":
        return "(batch, time, channels, height, width)"
    return "(batch, time, height, width, channels)"


def _format_shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def _input_hint(model: Lstm2dNet, shape: tuple[int, ...]) -> str:
    """A likely cause of a wrong input shape, where one is recognisable."""
    inp = model.spec.input
    frame_first = (inp.channels, inp.height, inp.width)
    frame_last = (inp.height, inp.width, inp.channels)
    own, other = (frame_first, frame_last) if model.input_layout == "channels_first" else (frame_last, frame_first)
    other_layout = "channels_last" if model.input_layout == "channels_first" else "channels_first"
    if len(shape) == 5 and shape[2:] == other and own != other:
        return f"; the frames look {other_layout}: build the model with input_layout={other_layout!r}"
    if len(shape) == 4 and shape[1:] in (own, other):
        return (
            "; this is a batch of single frames, but the model reads sequences of frames. "
            "If the first axis is time (e.g. 100 timesteps passed as 100 samples), add a batch axis: "
            "x.unsqueeze(0); if every sample is one frame, add a time axis: x.unsqueeze(1)"
        )
    if len(shape) == 3 and shape[-1] == inp.height * inp.width * inp.channels:
        return "; the frames look already flattened: pass them as grids, the model flattens them itself"
    if len(shape) == 5 and inp.timesteps is not None and shape[1] != inp.timesteps:
        return f"; the model was built for {inp.timesteps} timesteps (ModelSpec.input.timesteps=None accepts any length)"
    return ""


__all__ = ["INPUT_LAYOUTS", "InputLayout", "Lstm2dNet", "ModelOutput", "build_layer"]
