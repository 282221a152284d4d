"""The torch model built from a :class:`~lstm2d.spec.ModelSpec`."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from lstm2d.spec import Conv2D, ModelSpec
from torch_impl.layers import DenseLayer, FrameConv2d, FramePool2d

InputLayout = Literal["channels_first", "channels_last"]
INPUT_LAYOUTS: tuple[str, ...] = ("channels_first", "channels_last")


class Lstm2dNet(nn.Module):
    """Per-frame CNN (or plain flatten), then ``nn.LSTM`` layers, then Dense layers.

    Input: ``(batch, time, channels, height, width)`` (``input_layout="channels_first"``,
    the native layout) or ``(batch, time, height, width, channels)``
    (``input_layout="channels_last"``, Keras' layout, permuted once at the entry).
    Output: ``(batch, units)``, or ``(batch, time, units)`` when the last LSTM returns sequences.

    The frontend runs once over all ``batch * time`` frames; frames are flattened in
    torch's natural (channels, height, width) order. The difference from Keras'
    (height, width, channels) flatten lives in the converted LSTM input weights, not here.

    Submodules are named after the spec's layers, so state-dict keys read
    ``frontend.<conv name>.weight``, ``recurrent.<lstm name>.weight_ih_l0``, ``head.<dense name>.bias``.
    """

    def __init__(self, spec: ModelSpec, *, input_layout: InputLayout = "channels_first") -> None:
        super().__init__()
        if input_layout not in INPUT_LAYOUTS:
            raise ValueError(f"input_layout: expected one of {INPUT_LAYOUTS}, got {input_layout!r}")
        self.spec = spec
        self.input_layout = input_layout
        self.frontend = nn.ModuleDict()
        for layer, in_shape in zip(spec.frontend, spec.frame_shapes()[:-1], strict=True):
            self.frontend[layer.name] = (
                FrameConv2d(layer, in_shape) if isinstance(layer, Conv2D) else FramePool2d(layer, in_shape)
            )
        self.recurrent = nn.ModuleDict(
            {
                layer.name: nn.LSTM(in_features, layer.units, batch_first=True)
                for layer, in_features in zip(spec.recurrent, spec.recurrent_input_sizes(), strict=True)
            }
        )
        self.head = nn.ModuleDict(
            {
                layer.name: DenseLayer(layer, in_features)
                for layer, in_features in zip(spec.head, spec.head_input_sizes(), strict=True)
            }
        )

    @property
    def expected_input_shape(self) -> tuple[int | None, ...]:
        """Expected input shape, ``None`` for free axes (batch, and time when the spec leaves it open)."""
        inp = self.spec.input
        if self.input_layout == "channels_first":
            return (None, inp.timesteps, inp.channels, inp.height, inp.width)
        return (None, inp.timesteps, inp.height, inp.width, inp.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        if self.input_layout == "channels_last":
            x = x.permute(0, 1, 4, 2, 3)  # (B, T, H, W, C) -> (B, T, C, H, W)
        batch, time = x.shape[:2]
        frames = x.reshape(batch * time, *x.shape[2:])  # (B*T, C, H, W)
        for layer in self.frontend.values():
            frames = layer(frames)
        sequence = frames.reshape(batch, time, -1)  # (B, T, C'*H'*W'), CHW order
        for lstm in self.recurrent.values():
            sequence, _ = lstm(sequence)  # (B, T, units)
        out = sequence if self.spec.returns_sequences else sequence[:, -1]
        for dense in self.head.values():
            out = dense(out)
        return out

    def flatten_parameters(self) -> None:
        """Compact every LSTM's weights into one buffer (cuDNN wants this after weights are loaded)."""
        for lstm in self.recurrent.values():
            lstm.flatten_parameters()

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


def build_model(spec: ModelSpec, *, input_layout: InputLayout = "channels_first") -> Lstm2dNet:
    """Build the torch model for ``spec`` (torch's default initialisation; load weights to match Keras)."""
    return Lstm2dNet(spec, input_layout=input_layout)
