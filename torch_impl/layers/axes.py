"""Weights that span some axes of a tensor (LayerNormalization's gamma and beta, PReLU's alpha, Normalization's
statistics), as Keras holds them and as torch does.

Keras holds such a weight with the spanned axes in Keras' order (its axis numbers sorted, sizes of the Keras
tensor). torch holds it with the same axes in the order of the torch dims that hold them (the channels before the
height and width of channels-first frames), and with the features permuted as torch's are (a flatten's order, see
:mod:`torch_impl.layout`), so it broadcasts against the tensor as torch stores it, and nothing is permuted in the
forward pass (the layout rule: :mod:`torch_impl.convert.axes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstm2d.spec import Shape
from lstm2d.spec.axes import keras_positions, spec_axis
from torch_impl.convert import axes
from torch_impl.layout import FeatureOrder, NodePlan, TensorLayout, order_indices, torch_dim


@dataclass(frozen=True)
class AxesWeight:
    """A weight spanning the torch ``dims`` (negative, batch counted, ascending: the torch weight's axis order) of a
    tensor of per-sample rank ``rank``; ``transpose`` takes the Keras weight to torch's axis order, and ``order``
    (when the weight spans the features with more than one of them) is the features' permutation."""

    dims: tuple[int, ...]
    keras_shape: tuple[int, ...]
    torch_shape: tuple[int, ...]
    transpose: tuple[int, ...]
    rank: int
    order: FeatureOrder | None

    @classmethod
    def of(
        cls, keras_axes: tuple[int, ...], shape: Shape, layout: TensorLayout, data_format: str, what: str,
        *, shared: tuple[int, ...] = (),
    ) -> AxesWeight:  # fmt: skip
        """The weight spanning Keras ``keras_axes`` of a tensor of per-sample ``shape`` stored as ``layout`` in a model of
        ``data_format`` frames; the Keras axes in ``shared`` have size 1 (PReLU's shared axes)."""
        positions = keras_positions(keras_axes, shape, what)
        shared_positions = set(keras_positions(shared, shape, what)) if shared else set()
        spec_axes = [spec_axis(p, shape.rank, data_format) for p in positions]
        sizes = [1 if p in shared_positions else int(shape.dims[a] or 0) for p, a in zip(positions, spec_axes, strict=True)]
        torch_dims = [torch_dim(a, shape, layout) for a in spec_axes]
        transpose = tuple(int(i) for i in np.argsort(torch_dims, kind="stable"))
        torch_shape = tuple(sizes[i] for i in transpose)
        dims = tuple(sorted(torch_dims))
        spans_features = bool(dims) and dims[-1] == -1 and torch_shape[-1] > 1
        order = layout.order if spans_features else None
        return cls(dims, tuple(sizes), torch_shape, transpose, shape.rank, order)

    @property
    def broadcast_shape(self) -> tuple[int, ...]:
        """The per-sample shape to view the torch weight as, to broadcast against the tensor (batch axis left off)."""
        out = [1] * self.rank
        for dim, size in zip(self.dims, self.torch_shape, strict=True):
            out[self.rank + dim] = size
        return tuple(out)

    def to_torch(self, array: np.ndarray) -> np.ndarray:
        """Keras ``keras_shape`` -> torch ``torch_shape``."""
        return axes.keras_to_torch(array, self.transpose, order_indices(self.order))

    def to_keras(self, array: np.ndarray) -> np.ndarray:
        """torch ``torch_shape`` -> Keras ``keras_shape``."""
        return axes.torch_to_keras(array, self.transpose, order_indices(self.order))


def axes_weight(axes: tuple[int, ...], node: NodePlan, what: str, *, shared: tuple[int, ...] = ()) -> AxesWeight:
    """The weight spanning Keras ``axes`` of the node's input, in the layout the layer takes it in."""
    return AxesWeight.of(axes, node.shapes.input, node.layouts.inputs[0], node.data_format, what, shared=shared)


def axis_dims(axes: tuple[int, ...], node: NodePlan, what: str) -> tuple[int, ...]:
    """The torch dims (negative, ascending) that hold Keras ``axes`` of the node's input, as the layer takes it."""
    return axes_weight(axes, node, what).dims
