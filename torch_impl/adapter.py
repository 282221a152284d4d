"""The torch model seen from outside: its inputs and outputs in a layout the caller chooses.

:class:`~torch_impl.model.Lstm2dNet` reads frames and grids that feed convolutions or pooling in its
``input_layout`` and returns spatial outputs in it. A caller who holds arrays as the Keras model has them
(frames ``(B, T, H, W, C)`` for a ``channels_last`` model) wraps the model in :class:`LayoutAdapter`: the
channel axis moves once on the way in and once on the way out, and every other input and output (sequences,
vectors, masks) passes as it is. Exported artifacts (``torch_impl.export``) and the parity harness use it.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from torch_impl.model import INPUT_LAYOUTS, Lstm2dNet, ModelOutput

FrameLayout = Literal["channels_first", "channels_last"]


def relayout(x: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """Frames or a grid from ``source`` (``channels_last``: (..., H, W, C); ``channels_first``: (..., C, H, W)) to
    ``target``: a view with the channel axis moved, or ``x`` itself."""
    if source == target:
        return x
    return x.movedim(-1, -3) if source == "channels_last" else x.movedim(-3, -1)


class LayoutAdapter(nn.Module):
    """``model`` taking its inputs positionally (in the spec's input order) and returning its outputs (a tensor, or a
    tuple in the spec's output order), frames and grids of spatial layers in ``layout`` on both sides.

    ``layout`` is ``"channels_last"`` (frames ``(B, T, H, W, C)``, grids ``(B, H, W, C)``) or ``"channels_first"``
    (``(B, T, C, H, W)``, ``(B, C, H, W)``); which inputs and outputs it applies to is the model's
    :attr:`~torch_impl.model.Lstm2dNet.spatial_inputs` / ``spatial_outputs``.
    """

    def __init__(self, model: Lstm2dNet, layout: str) -> None:
        super().__init__()
        if layout not in INPUT_LAYOUTS:
            raise ValueError(f"layout: expected one of {INPUT_LAYOUTS}, got {layout!r}")
        self.model = model
        self.layout = layout
        self.spatial_inputs = model.spatial_inputs
        self.spatial_outputs = model.spatial_outputs

    def forward(self, *inputs: torch.Tensor) -> ModelOutput:
        inner = self.model.input_layout
        given = [relayout(x, self.layout, inner) if s else x for x, s in zip(inputs, self.spatial_inputs, strict=True)]
        out = self.model(*given)
        outputs = out if isinstance(out, tuple) else (out,)
        results = tuple(relayout(y, inner, self.layout) if s else y for y, s in zip(outputs, self.spatial_outputs, strict=True))
        return results[0] if len(results) == 1 else results


__all__ = ["FrameLayout", "LayoutAdapter", "relayout"]
