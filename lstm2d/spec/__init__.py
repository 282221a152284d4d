"""The framework-neutral model description: a graph of layers with Keras Functional semantics.

A :class:`ModelSpec` holds named inputs (:class:`InputSpec`), nodes (a layer applied to named tensors) and named
outputs; ``ModelSpec(input, layers)`` writes a stack. Every layer kind is a frozen dataclass registered under its
``kind`` (:data:`LAYER_KINDS`), with its traits as class attributes, its shape inference, and its Keras form both
ways. Shapes are per sample, in Keras' channels-last order (:class:`Shape`): frames ``(time, height, width,
channels)``, a grid ``(height, width, channels)``, a sequence ``(time, features)``, a vector ``(features,)``. A 2D
layer given frames runs on every frame, which is Keras' ``TimeDistributed``; the Keras builder adds the wrapper, the
torch model folds time into the batch.

Both builders (``torch_impl.build_model`` and ``keras_ref.build_model``) read the spec, and every layer carries the
same name on both sides, so a weight map between them reads as a table. This package imports neither torch nor
keras.
"""

from lstm2d.spec.base import KERAS_CLASSES, LAYER_KINDS, DecodeContext, EncodeContext, KerasConfig, Layer
from lstm2d.spec.checks import ACTIVATION_ALIASES, ACTIVATIONS
from lstm2d.spec.graph import (
    MAX_DEPTH,
    MAX_NODE_INPUTS,
    MAX_NODES,
    Inference,
    InputSpec,
    LayerShapes,
    ModelSpec,
    Node,
    NodeShapes,
    Submodel,
    TimeDistributed,
    keras_dims,
    parse_ref,
    resolve_ref,
    tensor_ref,
)
from lstm2d.spec.layers import (
    activations,
    conv,
    conv1d,
    conv_variants,
    core,
    merge,
    norm,
    normalization,
    pooling,
    pooling1d,
    pooling3d,
    recurrent,
    regularization,
    reshaping1d,
    resize,
    spatial_dropout,
)
from lstm2d.spec.layers.activations import *  # noqa: F403
from lstm2d.spec.layers.conv import *  # noqa: F403 - importing the families registers every kind
from lstm2d.spec.layers.conv1d import *  # noqa: F403
from lstm2d.spec.layers.conv_variants import *  # noqa: F403
from lstm2d.spec.layers.core import *  # noqa: F403
from lstm2d.spec.layers.merge import *  # noqa: F403
from lstm2d.spec.layers.norm import *  # noqa: F403
from lstm2d.spec.layers.normalization import *  # noqa: F403
from lstm2d.spec.layers.pooling import *  # noqa: F403
from lstm2d.spec.layers.pooling1d import *  # noqa: F403
from lstm2d.spec.layers.pooling3d import *  # noqa: F403
from lstm2d.spec.layers.recurrent import *  # noqa: F403
from lstm2d.spec.layers.regularization import *  # noqa: F403
from lstm2d.spec.layers.reshaping1d import *  # noqa: F403
from lstm2d.spec.layers.resize import *  # noqa: F403
from lstm2d.spec.layers.spatial_dropout import *  # noqa: F403
from lstm2d.spec.serialize import SPEC_FORMAT_VERSION
from lstm2d.spec.shapes import (
    PADDINGS,
    Frames,
    Grid,
    Padding,
    Shape,
    SpecError,
    Steps,
    Vector,
    describe_shape,
    dims_text,
    fixed_dims,
    output_size,
    same_padding,
)

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_ALIASES",
    "KERAS_CLASSES",
    "LAYER_KINDS",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_NODE_INPUTS",
    "PADDINGS",
    "SPEC_FORMAT_VERSION",
    "DecodeContext",
    "EncodeContext",
    "Frames",
    "Grid",
    "Inference",
    "InputSpec",
    "KerasConfig",
    "Layer",
    "LayerShapes",
    "ModelSpec",
    "Node",
    "NodeShapes",
    "Padding",
    "Shape",
    "SpecError",
    "Steps",
    "Submodel",
    "TimeDistributed",
    "Vector",
    "describe_shape",
    "dims_text",
    "fixed_dims",
    "keras_dims",
    "output_size",
    "parse_ref",
    "resolve_ref",
    "same_padding",
    "tensor_ref",
]
_FAMILIES = (activations, conv, conv1d, conv_variants, core, merge, norm, normalization, pooling, pooling1d, pooling3d)
for _family in (*_FAMILIES, recurrent, regularization, reshaping1d, resize, spatial_dropout):
    __all__ += _family.__all__
