"""The layer kinds, one module per family; importing this package registers every kind."""

from lstm2d.spec.layers.conv import Conv2D, Conv3D
from lstm2d.spec.layers.core import DATA_FORMATS, Activation, DataFormat, Dense, Dropout, Flatten, Masking, Reshape
from lstm2d.spec.layers.merge import Add, Average, Concatenate, Maximum, Merge, Minimum, Multiply, Subtract
from lstm2d.spec.layers.norm import BatchNorm, batch_norm_axis
from lstm2d.spec.layers.pooling import GlobalPool2D, Pool2D
from lstm2d.spec.layers.recurrent import (
    GRU,
    LSTM,
    MERGE_MODES,
    RECURRENT_KINDS,
    Bidirectional,
    ConvLSTM2D,
    Gated,
    Recurrent,
    RecurrentLayer,
    SimpleRNN,
)

__all__ = [
    "DATA_FORMATS",
    "GRU",
    "LSTM",
    "MERGE_MODES",
    "RECURRENT_KINDS",
    "Activation",
    "Add",
    "Average",
    "BatchNorm",
    "Bidirectional",
    "Concatenate",
    "Conv2D",
    "Conv3D",
    "ConvLSTM2D",
    "DataFormat",
    "Dense",
    "Dropout",
    "Flatten",
    "Gated",
    "GlobalPool2D",
    "Masking",
    "Maximum",
    "Merge",
    "Minimum",
    "Multiply",
    "Pool2D",
    "Recurrent",
    "RecurrentLayer",
    "Reshape",
    "SimpleRNN",
    "Subtract",
    "batch_norm_axis",
]
