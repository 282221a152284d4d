"""Specs several test modules share, built without Keras (``torch_impl.to_keras`` writes them as Keras files):
a graph of several inputs of several kinds, a shared layer, a nested model, a mask and two outputs (the command-line
tests), and models that between them hold every layer kind (the spec and export tests)."""

from __future__ import annotations

from lstm2d.spec import (
    GRU,
    LSTM,
    Activation,
    Add,
    Average,
    BatchNorm,
    Bidirectional,
    Concatenate,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    ConvLSTM1D,
    ConvLSTM2D,
    Cropping1D,
    Cropping2D,
    Cropping3D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalPool1D,
    GlobalPool2D,
    GlobalPool3D,
    InputSpec,
    Masking,
    Maximum,
    Minimum,
    ModelSpec,
    Multiply,
    Node,
    Pool1D,
    Pool2D,
    Pool3D,
    RepeatVector,
    Reshape,
    SeparableConv2D,
    SimpleRNN,
    SpatialDropout2D,
    SpatialDropout3D,
    Submodel,
    Subtract,
    TimeDistributed,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from lstm2d.spec.layers.activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from lstm2d.spec.layers.core import Permute
from lstm2d.spec.layers.normalization import GroupNorm, LayerNorm, Normalization, Rescaling, RMSNorm, UnitNorm
from lstm2d.spec.layers.regularization import ActivityRegularization, AlphaDropout, GaussianDropout, GaussianNoise

BACKBONE = ModelSpec(
    InputSpec.grid(6, 5, 2, name="frame"), (Conv2D(3, 3, activation="relu", name="conv"), Flatten(name="flat")), name="backbone"
)
TWO_HEADS = ModelSpec(
    inputs=(InputSpec.frames(None, 6, 5, 2), InputSpec.sequence(None, 3, name="side"), InputSpec.mask(None, name="steps")),
    nodes=(
        Node(TimeDistributed(Submodel(BACKBONE, name="backbone"), name="td"), ("frames",)),  # (T, 36)
        Node(Concatenate(name="joined"), ("td", "side")),  # (T, 39)
        Node(Dense(8, activation="relu", name="shared"), ("joined",)),
        Node(Dense(8, activation="relu", name="shared"), ("joined",)),  # the same layer again: shared weights
        Node(Add(name="both"), ("shared", "shared@1")),
        Node(LSTM(4, name="lstm"), ("both",), mask="steps"),
        Node(Dense(1, name="out"), ("lstm",)),  # one value per sample
        Node(Dense(3, name="per_step"), ("shared@1",)),  # three scores per timestep
    ),
    outputs=("out", "per_step"),
    name="two-heads",
)
"""Frames (open time axis) through a backbone CNN on every frame, joined with a side sequence, a Dense called twice,
an LSTM masked by a boolean input; outputs ``out`` (1,) and ``per_step`` (time, 3)."""
TWO_HEADS_PARAMETERS = (3 * 3 * 2 * 3 + 3) + (39 * 8 + 8) + 4 * 4 * (8 + 4 + 1) + (4 + 1) + (8 * 3 + 3)
"""conv 57, shared 320 (counted once), lstm 208, out 5, per_step 27."""


EVERY_KIND = ModelSpec(  # one of each layer kind, every shape kind on the way
    InputSpec.frames(6, 10, 9, 2),
    layers=(
        Conv2D(4, 3, padding="same", dilation_rate=2, use_bias=False),
        BatchNorm(per_timestep=True, center=False),
        Pool2D("avg", 2, padding="same"),
        Activation("gelu"),
        ConvLSTM2D(3, (3, 2), padding="same", return_sequences=True, go_backwards=True),
        BatchNorm(epsilon=1e-5, momentum=0.9),
        Conv3D(2, (3, 3, 3), padding="same", activation="sigmoid"),
        Flatten(),
        Masking(-1.0),
        Dropout(0.25),
        Dense(8, activation="swish"),
        Bidirectional(GRU(4, return_sequences=True, reset_after=False), merge_mode="ave"),
        SimpleRNN(5, return_sequences=True, activation="relu", recurrent_dropout=0.1),
        LSTM(3, return_sequences=True, recurrent_activation="hard_sigmoid_keras2", unit_forget_bias=False),
        Bidirectional(LSTM(2, return_sequences=True), merge_mode=None),
    ),
    name="every-kind",
)


PLAIN_BACKBONE = ModelSpec(InputSpec.grid(6, 5, 2, name="frame"), (Conv2D(3, 3, activation="relu"), Flatten()), name="backbone")
EVERY_GRAPH_KIND = ModelSpec(  # the graph-only kinds: merges, Reshape, TimeDistributed, a nested model, a shared layer
    inputs=(
        InputSpec.frames(4, 6, 5, 2),
        InputSpec((4, 5, 5), name="planes"),  # frames without a channel axis
        InputSpec.sequence(4, 3, name="side"),
    ),
    nodes=(
        Node(TimeDistributed(Submodel(PLAIN_BACKBONE, name="backbone"), name="td"), ("frames",)),
        Node(TimeDistributed(Flatten(), name="td_flat"), ("planes",)),
        Node(Reshape((4, 25), name="planes_flat"), ("planes",)),
        Node(Add(name="add"), ("td_flat", "planes_flat")),
        Node(Subtract(name="sub"), ("add", "planes_flat")),
        Node(Multiply(name="mul"), ("add", "sub")),
        Node(Average(name="avg"), ("add", "sub", "mul")),
        Node(Maximum(name="max"), ("avg", "sub")),
        Node(Minimum(name="min"), ("max", "mul")),
        Node(Concatenate(name="cat"), ("td", "min", "side")),
        Node(Dense(8, name="shared"), ("cat",)),
        Node(Dense(8, name="shared"), ("cat",)),
        Node(Add(name="both"), ("shared", "shared@1")),
        Node(LSTM(4, name="lstm"), ("both",)),
        Node(RepeatVector(3, name="again"), ("lstm",)),
    ),
    outputs=("again", "shared@1"),
    name="every-graph-kind",
)

ONE_D_KINDS = ModelSpec(  # the 1D kinds, options set: on a sequence (over its time axis) and on 1D signals (per step)
    inputs=(InputSpec.sequence(9, 3, name="series"), InputSpec((4, 8, 2), name="signals"), InputSpec.mask(9, name="m")),
    nodes=(
        Node(Conv1D(4, 2, padding="causal", dilation_rate=2, activation="relu", use_bias=False, name="causal"), ("series",)),
        Node(Conv1DTranspose(4, 3, strides=2, padding="same", activation="tanh", name="up"), ("causal",)),  # (18, 4)
        Node(Pool1D("avg", 3, strides=2, padding="same", name="pool"), ("up",)),  # (9, 4)
        Node(ZeroPadding1D((1, 2), name="pad"), ("pool",)),  # (12, 4)
        Node(Cropping1D((2, 1), name="crop"), ("pad",)),  # (9, 4)
        Node(UpSampling1D(3, name="repeat"), ("crop",)),  # (27, 4)
        Node(GlobalPool1D("max", keepdims=True, name="gmp"), ("repeat",)),  # (1, 4)
        Node(GlobalPool1D(name="gap"), ("series",), mask="m"),  # (3,)
        Node(Conv1D(4, 3, padding="same", groups=2, activation="softmax", name="per_step"), ("signals",)),  # (4, 8, 4)
        Node(Pool1D("max", 2, name="step_pool"), ("per_step",)),  # (4, 4, 4)
        Node(ZeroPadding1D(1, name="step_pad"), ("step_pool",)),  # (4, 6, 4)
        Node(ConvLSTM1D(3, 2, strides=2, padding="same", return_sequences=True, go_backwards=True, name="cl"), ("step_pad",)),
        Node(GlobalPool1D("max", name="step_gmp"), ("cl",)),  # (4, 3)
    ),
    outputs=("gmp", "gap", "step_gmp"),
    name="one-d-kinds",
)


SHAPE_NORM_KINDS = ModelSpec(  # the shape, normalisation, regularisation and activation layers, options set
    InputSpec.frames(3, 5, 4, 2),
    layers=(
        Rescaling(0.5, 0.1),
        Normalization(axis=(2, 3), mean=(0.5, 0.0, 0.25, 1.0), variance=(1.0, 2.0, 0.5, 1.0), invert=True),
        Dense(3, activation="celu"),
        LayerNorm(axis=(2, 3, 4), epsilon=1e-2, center=False),
        RMSNorm(axis=(-2, -1), epsilon=1e-3),
        GroupNorm(3, epsilon=1e-2, scale=False),
        UnitNorm(axis=(2, 3)),
        ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
        LeakyReLU(0.1),
        ELU(0.5),
        PReLU(shared_axes=(1, 2)),
        Softmax(axis=(2, 3)),
        Permute((1, 3, 2, 4)),
        Flatten(whole=True),
        GaussianNoise(0.1),
        GaussianDropout(0.2),
        AlphaDropout(0.1),
        ActivityRegularization(0.01, 0.02),
        Normalization(axis=()),
        LayerNorm(rms_scaling=True),
        Dense(2),
    ),
    name="shape-norm-kinds",
)
SHAPE_NORM_CHANNELS_FIRST = ModelSpec(  # Keras' axes of channels_first frames (time, channels, height, width)
    InputSpec.frames(3, 5, 6, 2),
    layers=(
        Conv2D(4, 3, padding="same"),
        LayerNorm(axis=2),
        GroupNorm(2, axis=2),
        RMSNorm(axis=(2, 3, 4)),
        PReLU(shared_axes=(1, 3, 4)),
        Softmax(axis=-1),
        Normalization(axis=2),
        Flatten(whole=True),
    ),
    name="shape-norm-channels-first",
    data_format="channels_first",
)

EVERY_SPATIAL_KIND = ModelSpec(  # the 2D layers on every frame, then the 3D layers over the frames, every option set
    InputSpec.frames(4, 9, 8, 2),
    layers=(
        ZeroPadding2D(((1, 0), (0, 2))),
        Cropping2D(((0, 1), (1, 1))),
        DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=2, activation="relu6", use_bias=False),
        SeparableConv2D(3, 3, padding="same", depth_multiplier=2, dilation_rate=(1, 2), activation="elu"),
        Conv2DTranspose(4, (3, 2), strides=2, padding="same", output_padding=(1, 0), activation="relu", use_bias=False),
        UpSampling2D((1, 2), "bilinear"),
        SpatialDropout2D(0.2),
        Pool3D("avg", (2, 2, 2), strides=(1, 2, 2), padding="same"),
        ZeroPadding3D(((1, 1), (0, 1), (1, 0))),
        Cropping3D(((1, 0), (1, 1), (0, 2))),
        UpSampling3D((2, 1, 1)),
        Conv3DTranspose(2, (2, 3, 3), strides=(1, 2, 2), dilation_rate=1, activation="sigmoid"),
        SpatialDropout3D(0.1),
        GlobalPool3D("max"),
    ),
    name="every-spatial-kind",
)
SPATIAL_CHANNELS_FIRST = ModelSpec(  # the 2D ones' channels_first Keras forms
    InputSpec.frames(3, 6, 5, 2),
    layers=(
        ZeroPadding2D(1), Cropping2D(((0, 1), (1, 0))), DepthwiseConv2D(3), SeparableConv2D(2, 2),
        Conv2DTranspose(3, 2, strides=2), UpSampling2D(2), SpatialDropout2D(0.1), GlobalPool2D(),
    ),
    data_format="channels_first",
    name="spatial-channels-first",
)  # fmt: skip
