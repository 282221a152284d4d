"""The specs the parity tests run over.

``PARITY_SPECS``: the presets plus the CNN-LSTM shapes where layout and padding bugs hide.
``LAYER_SPECS``: one small model per layer kind and setting Keras users write around a CNN-LSTM,
chosen so each setting changes the numbers (C > 1 and H != W at flattens, non-default activations,
both GRU conventions, every Bidirectional merge, go_backwards, BatchNorm after a flatten, ...).
``CHANNELS_FIRST_SPECS`` (part of ``LAYER_SPECS``): Keras models of channels_first frames, both flatten orders.
``MASKED_SPECS``: models whose recurrent layers see a Masking layer's mask.
``GRAPH_SPECS``: graphs (several inputs and outputs, merges of every kind, residual blocks, shared layers, nested
models called directly and under TimeDistributed, boolean mask inputs), small, with C > 1 and H != W wherever
frames are flattened, so the feature orders the torch side combines (``torch_impl.layout.FeatureOrder``) matter.
``INPUT_KIND_SPECS``: one small model per kind of input Keras users feed: sequences (fixed or open length), vectors,
single grids, frames without a channel axis, sequences of 1D signals (channels_first frames: ``CHANNELS_FIRST_SPECS``).
``TRAJECTORY_SPECS``: models trained 50 steps in both frameworks (no dropout: its random masks cannot match).
``SHAPE_NORM_SPECS`` (part of ``LAYER_SPECS``) and ``SHAPE_NORM_GRAPH_SPECS`` (part of ``GRAPH_SPECS``): the shape,
normalisation, regularisation and activation layers (Dense on frames, Permute, a whole Flatten, Layer/Group/Unit
Normalization, RMSNormalization, Normalization, Rescaling, noise, ReLU, LeakyReLU, PReLU, ELU, Softmax with axes and a mask).
``ALL_SPECS``: every spec above but the trajectory models (variants of the others).
``SPATIAL_CATALOG_SPECS`` (part of ``LAYER_SPECS`` and ``ALL_SPECS``): the 2D layers per frame and on grids
(transposed, depthwise and separable convolutions, padding, cropping, upsampling, channel dropout) and the 3D layers
over (time, height, width) of frames (pooling, transposed convolution, padding, cropping, upsampling), with odd and
even sizes, strides, ``same`` padding of even kernels, dilation, H != W, C > 1, a flatten after them, channels_first
frames and an open time axis.
"""

from __future__ import annotations

import numpy as np

from lstm2d.presets import get_preset, preset_names
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
    DataFormat,
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

EXTRA_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(  # H != W and C > 1, so the HWC/CHW flatten orders really differ
        name="rect-multichannel",
        input=InputSpec.frames(6, height=9, width=7, channels=2),
        layers=(Conv2D(4, 3, activation="relu"), Pool2D("max", 2), Flatten(), LSTM(8), Dense(3)),
    ),
    ModelSpec(  # stride 2, valid, odd sizes
        name="stride2-valid",
        input=InputSpec.frames(5, height=11, width=10, channels=3),
        layers=(Conv2D(5, 3, strides=2, activation="tanh"), Flatten(), LSTM(6), Dense(2)),
    ),
    ModelSpec(  # same padding with even kernels: TensorFlow puts the odd cell bottom/right
        name="same-even-kernel",
        input=InputSpec.frames(5, height=10, width=9, channels=1),
        layers=(
            Conv2D(4, (4, 2), padding="same", activation="relu"),
            Pool2D("max", 2, padding="same"),
            Flatten(),
            LSTM(7),
            Dense(1),
        ),
    ),
    ModelSpec(  # same padding with odd kernels and stride 2 (asymmetric), then a same conv
        name="same-odd-strided",
        input=InputSpec.frames(4, height=9, width=8, channels=2),
        layers=(
            Conv2D(3, 3, strides=2, padding="same", activation="sigmoid"),
            Conv2D(4, (5, 3), padding="same"),
            Flatten(),
            LSTM(5),
            Dense(2),
        ),
    ),
    ModelSpec(  # average pooling with same padding: the mean is over valid cells only
        name="avg-pool-same",
        input=InputSpec.frames(5, height=10, width=10, channels=1),
        layers=(Conv2D(4, 3, activation="relu"), Pool2D("avg", 3, strides=2, padding="same"), Flatten(), LSTM(6), Dense(1)),
    ),
    ModelSpec(  # pooling first, valid average pooling, C = 3, H != W
        name="avg-pool-first",
        input=InputSpec.frames(4, height=8, width=12, channels=3),
        layers=(
            Pool2D("avg", 2),
            Conv2D(3, 2, activation="relu"),
            Pool2D("max", (2, 3), strides=1, padding="same"),
            Flatten(),
            LSTM(5),
            Dense(1),
        ),
    ),
    ModelSpec(  # two stacked LSTMs
        name="stacked-lstm",
        input=InputSpec.frames(6, height=8, width=8, channels=1),
        layers=(Conv2D(4, 3, activation="relu"), Pool2D("max", 2), Flatten(), LSTM(8, return_sequences=True), LSTM(5), Dense(1)),
    ),
    ModelSpec(  # return_sequences into a per-timestep softmax head, flatten frontend with C > 1
        name="sequence-output",
        input=InputSpec.frames(5, height=6, width=5, channels=2),
        layers=(Flatten(), LSTM(7, return_sequences=True), Dense(4, activation="softmax")),
    ),
    ModelSpec(  # stacked, sequences out, two Dense layers
        name="stacked-sequences-deep-head",
        input=InputSpec.frames(4, height=5, width=7, channels=1),
        layers=(
            Conv2D(3, 2, padding="same", activation="relu"),
            Flatten(),
            LSTM(6, return_sequences=True),
            LSTM(5, return_sequences=True),
            Dense(8, activation="relu"),
            Dense(2),
        ),
    ),
    ModelSpec(  # a single timestep
        name="one-timestep",
        input=InputSpec.frames(1, height=7, width=6, channels=2),
        layers=(Conv2D(3, 3, activation="relu"), Flatten(), LSTM(4), Dense(1, activation="tanh")),
    ),
    ModelSpec(  # timesteps left open: Keras' TimeDistributed takes its vectorized_map path
        name="open-timesteps",
        input=InputSpec.frames(None, height=6, width=6, channels=1),
        layers=(Conv2D(3, 3, activation="relu"), Flatten(), LSTM(4), Dense(1)),
    ),
)

PARITY_SPECS: tuple[ModelSpec, ...] = (*(get_preset(name) for name in preset_names()), *EXTRA_SPECS)


def _seq(name: str, *layers, timesteps: int = 5, height: int = 4, width: int = 3, channels: int = 2) -> ModelSpec:
    """A small flatten-then-recurrent model: (T, H, W, C) frames, flattened, then ``layers``."""
    return ModelSpec(InputSpec.frames(timesteps, height, width, channels), layers=(Flatten(), *layers), name=name)


def _channels_first(name: str, input: InputSpec, *layers) -> ModelSpec:
    return ModelSpec(input, layers=layers, name=f"channels_first-{name}", data_format="channels_first")


CHANNELS_FIRST_SPECS: tuple[ModelSpec, ...] = (  # H != W and C > 1 wherever a frame is flattened
    _channels_first(  # a Flatten left at channels_last flattens (C, H, W): torch's order, nothing permuted
        "cnn-flatten-chw",
        InputSpec.frames(4, 7, 5, 2),
        Conv2D(3, 3, padding="same", activation="relu"), Pool2D("max", 2), Flatten(), LSTM(4), Dense(2),
    ),
    _channels_first(  # Flatten(data_format="channels_first") moves the channels last: (H, W, C), permuted
        "cnn-flatten-hwc",
        InputSpec.frames(4, 7, 5, 2),
        Conv2D(3, 3, padding="same", activation="relu"), Pool2D("avg", 2), Flatten("channels_first"), LSTM(4), Dense(2),
    ),
    _channels_first(  # BatchNormalization on axis 2 (sequence) and 1 (per frame); softmax over Keras' last axis, the width
        "conv-lstm-batch-norm",
        InputSpec.frames(3, 5, 4, 2),
        ConvLSTM2D(3, 3, padding="same", return_sequences=True), BatchNorm(), BatchNorm(per_timestep=True),
        Conv2D(2, (2, 3), padding="same", activation="softmax"),
    ),
    _channels_first(
        "global-average-pool",
        InputSpec.frames(4, 7, 6, 3),
        Conv2D(4, 3, strides=2, activation="tanh"), BatchNorm(per_timestep=True), GlobalPool2D(), LSTM(3), Dense(1),
    ),
    _channels_first(  # the last state, a grid: BatchNormalization on axis 1, flattened (H, W, C)
        "conv-lstm-grid-flatten",
        InputSpec.frames(3, 5, 4, 2),
        ConvLSTM2D(3, (2, 3)), BatchNorm(), Activation("softmax"), Flatten("channels_first"), Dense(2),
    ),
)  # fmt: skip

LAYER_SPECS: tuple[ModelSpec, ...] = (
    # recurrent layers and their settings
    _seq("lstm-activations", LSTM(4, return_sequences=True, activation="relu", recurrent_activation="hard_sigmoid"), Dense(2)),
    _seq("lstm-keras2-hard-sigmoid", LSTM(4, recurrent_activation="hard_sigmoid_keras2"), Dense(1)),
    _seq("lstm-no-bias-backwards", LSTM(4, use_bias=False, go_backwards=True, return_sequences=True), Dense(1)),
    _seq("lstm-dropout-at-inference", LSTM(4, dropout=0.3, recurrent_dropout=0.2), Dense(1)),
    _seq("gru-reset-after", GRU(4, return_sequences=True), GRU(3), Dense(2)),
    _seq("gru-reset-before", GRU(4, reset_after=False, return_sequences=True), Dense(2)),
    _seq("gru-backwards-no-bias", GRU(3, go_backwards=True, use_bias=False), Dense(1)),
    _seq("repeat-vector-decoder", LSTM(6), RepeatVector(3), LSTM(4, return_sequences=True), Dense(2)),
    _seq("gru-activations", GRU(3, activation="elu", recurrent_activation="hard_sigmoid", reset_after=False), Dense(1)),
    _seq("simple-rnn-tanh", SimpleRNN(4, return_sequences=True), SimpleRNN(3, go_backwards=True), Dense(1)),
    _seq(
        "simple-rnn-relu-selu", SimpleRNN(4, activation="relu", return_sequences=True), SimpleRNN(3, activation="selu"), Dense(1)
    ),
    *(
        _seq(f"bidirectional-{mode}", Bidirectional(LSTM(3, return_sequences=True), merge_mode=mode), Dense(2))
        for mode in ("concat", "sum", "mul", "ave")
    ),
    _seq("bidirectional-gru-last", Bidirectional(GRU(3, reset_after=False)), Dense(1)),
    _seq(
        "bidirectional-simple-rnn-stacked", Bidirectional(SimpleRNN(3, return_sequences=True)), Bidirectional(LSTM(2)), Dense(1)
    ),
    _seq("bidirectional-two-outputs", Dense(4, activation="tanh"), Bidirectional(GRU(3, return_sequences=True), merge_mode=None)),
    # per-frame layers and what sits between them and the recurrent part
    ModelSpec(
        InputSpec.frames(4, 9, 8, 2),
        layers=(
            Conv2D(3, 3, padding="same", dilation_rate=(2, 1), activation="elu"),
            Conv2D(4, 2, dilation_rate=2, use_bias=False, activation="gelu"),
            Flatten(),
            LSTM(3),
            Dense(1),
        ),
        name="conv-dilation-activations",
    ),
    ModelSpec(
        InputSpec.frames(5, 7, 6, 3),
        layers=(Conv2D(4, 3, activation="swish"), BatchNorm(per_timestep=True), Pool2D("max", 2), Flatten(), LSTM(3), Dense(1)),
        name="batch-norm-per-frame",
    ),
    ModelSpec(
        InputSpec.frames(4, 3, 4, 2),
        layers=(Flatten(), BatchNorm(center=False, epsilon=1e-2), Dropout(0.4), Activation("softsign"), GRU(3), Dense(1)),
        name="batch-norm-after-flatten",
    ),
    ModelSpec(
        InputSpec.frames(5, 6, 5, 3),
        layers=(
            Conv2D(4, 3, padding="same"),
            GlobalPool2D(),
            Dense(4, activation="hard_silu"),
            LSTM(3),
            Dense(3, activation="softmax"),
        ),
        name="global-average-pool",
    ),
    ModelSpec(
        InputSpec.frames(4, 6, 6, 2),
        layers=(Conv2D(3, 3), GlobalPool2D("max"), SimpleRNN(2, return_sequences=True), Activation("log_softmax")),
        name="global-max-pool-sequence-out",
    ),
    # layers that keep the grid through time
    ModelSpec(
        InputSpec.frames(4, 7, 6, 2),
        layers=(ConvLSTM2D(3, 3, padding="same", return_sequences=True), BatchNorm(), ConvLSTM2D(2, (2, 3)), Flatten(), Dense(1)),
        name="conv-lstm-stacked",
    ),
    ModelSpec(
        InputSpec.frames(5, 8, 7, 1),
        layers=(
            ConvLSTM2D(2, 3, strides=2, padding="same", go_backwards=True, return_sequences=True),
            Flatten(),
            LSTM(2),
            Dense(1),
        ),
        name="conv-lstm-strided-backwards",
    ),
    ModelSpec(
        InputSpec.frames(3, 6, 5, 2),
        layers=(
            ConvLSTM2D(3, (2, 2), padding="same", activation="relu", recurrent_activation="hard_sigmoid", use_bias=False),
            Conv2D(2, 3, padding="same", activation="sigmoid"),
        ),
        name="conv-lstm-grid-out-even-kernel",
    ),
    ModelSpec(
        InputSpec.frames(4, 9, 8, 2),
        layers=(ConvLSTM2D(3, 3, dilation_rate=2, return_sequences=True), GlobalPool2D(), GRU(2), Dense(1)),
        name="conv-lstm-dilated",
    ),
    ModelSpec(  # Keras' softmax reduces over the channels (its last axis), not torch's last axis, the width
        InputSpec.frames(3, 5, 4, 2),
        layers=(ConvLSTM2D(3, 3, padding="same", activation="softmax", recurrent_activation="softmax"),),
        name="conv-lstm-softmax",
    ),
    ModelSpec(
        InputSpec.frames(4, 6, 5, 2),
        layers=(
            ConvLSTM2D(3, 3, padding="same", return_sequences=True),
            BatchNorm(per_timestep=True),
            ConvLSTM2D(3, 3, padding="same", return_sequences=True),
            BatchNorm(),
            Conv3D(1, 3, padding="same", activation="sigmoid"),
        ),
        name="next-frame-small",
    ),
    ModelSpec(
        InputSpec.frames(6, 7, 6, 2),
        layers=(
            Conv3D(3, (2, 3, 2), strides=(2, 1, 2), padding="same"),
            Conv3D(2, 2, dilation_rate=(1, 2, 1)),
            Flatten(),
            LSTM(2),
        ),
        name="conv3d-strided-dilated",
    ),
    *CHANNELS_FIRST_SPECS,
)

MASKED_SPECS: tuple[ModelSpec, ...] = (
    _seq("masked-lstm", Masking(), LSTM(4, return_sequences=True), LSTM(3), Dense(1)),
    _seq("masked-gru-backwards", Masking(), Dense(4), GRU(3, go_backwards=True, return_sequences=True), Dense(2)),
    _seq("masked-simple-rnn-loop", Masking(), SimpleRNN(3, activation="elu", return_sequences=True), Dense(1)),
    _seq(
        "masked-bidirectional", Masking(), Bidirectional(LSTM(3, return_sequences=True)), Bidirectional(GRU(2), "sum"), Dense(1)
    ),
    _seq("masked-nonzero-value", Masking(mask_value=0.5), LSTM(3, activation="relu", return_sequences=True), Dense(1)),
)


def _graph(
    name: str,
    inputs: tuple[InputSpec, ...],
    nodes: tuple[Node, ...],
    outputs: tuple[str, ...] = ("out",),
    data_format: DataFormat = "channels_last",
) -> ModelSpec:
    return ModelSpec(inputs=inputs, nodes=nodes, outputs=outputs, name=name, data_format=data_format)


# Nested models: a per-frame CNN backbone (its output is a flattened grid, features in a permuted order on the torch
# side), the same with BatchNormalization, a sequence encoder, a CNN-LSTM of frames and a side sequence with two outputs.
BACKBONE = ModelSpec(
    InputSpec.grid(7, 6, 2, name="frame"), (Conv2D(3, 3, activation="relu"), Pool2D("max", 2), Flatten()), name="backbone"
)
BN_BACKBONE = ModelSpec(
    InputSpec.grid(7, 6, 2, name="frame"),
    (Conv2D(3, 3, use_bias=False), BatchNorm(), Activation("relu"), Flatten()),  # a bias before a BatchNorm gets no
    # gradient in training (see TRAJECTORY_SPECS)
    name="bn_backbone",
)
SEQUENCE_ENCODER = ModelSpec(InputSpec.sequence(5, 4, name="steps"), (Dense(5, activation="tanh"), LSTM(3)), name="encoder")
CNN_LSTM_TWO_OUTPUTS = _graph(
    "two_out_inner",
    (InputSpec.frames(5, 9, 7, 2), InputSpec.sequence(5, 3, name="side")),
    (
        Node(Conv2D(3, 3, activation="relu", name="conv"), ("frames",)),
        Node(Flatten(name="flat"), ("conv",)),
        Node(Concatenate(name="joined"), ("flat", "side")),
        Node(LSTM(4, return_sequences=True, name="lstm"), ("joined",)),
    ),
    ("lstm", "flat"),  # the second output leaves the nested model with its features permuted on the torch side
)
BACKBONE_SEQUENCE = ModelSpec(  # a model that runs a nested model under TimeDistributed
    InputSpec.frames(4, 7, 6, 2, name="clip"),
    (TimeDistributed(Submodel(BACKBONE, name="backbone"), name="td"), GRU(3, return_sequences=True)),
    name="backbone_sequence",
)

GRAPH_SPECS: tuple[ModelSpec, ...] = (
    _graph(  # a CNN-LSTM with a second input (T, k) joined to the flattened frames per timestep
        "cnn-lstm-side-sequence",
        (InputSpec.frames(5, 9, 7, 2), InputSpec.sequence(5, 3, name="side")),
        (
            Node(Conv2D(3, 3, activation="relu", name="conv"), ("frames",)),
            Node(Pool2D("max", 2, name="pool"), ("conv",)),
            Node(Flatten(name="flat"), ("pool",)),
            Node(Concatenate(name="joined"), ("flat", "side")),
            Node(LSTM(4, name="lstm"), ("joined",)),
            Node(Dense(2, name="out"), ("lstm",)),
        ),
    ),
    _graph(  # multi-input, BatchNormalization in a backbone under TimeDistributed: the trajectory model (training
        # statistics per timestep, as Keras' TimeDistributed calls the backbone once per step)
        "backbone-side-sequence",
        (InputSpec.frames(4, 7, 6, 2), InputSpec.sequence(4, 3, name="side")),
        (
            Node(TimeDistributed(Submodel(BN_BACKBONE, name="bn_backbone"), name="td"), ("frames",)),
            Node(Concatenate(name="joined"), ("td", "side")),
            Node(LSTM(4, name="lstm"), ("joined",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
    ),
    _graph(  # residual blocks on frames: Conv2D 'same', then Add with the block's input (channels first in torch)
        "residual-frames",
        (InputSpec.frames(4, 6, 5, 3),),
        (
            Node(Conv2D(3, 3, padding="same", activation="relu", name="c1"), ("frames",)),
            Node(Add(name="res1"), ("c1", "frames")),
            Node(Conv2D(3, (2, 3), padding="same", name="c2"), ("res1",)),
            Node(Add(name="res2"), ("c2", "res1")),
            Node(Flatten(name="flat"), ("res2",)),
            Node(LSTM(3, name="lstm"), ("flat",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
    ),
    _graph(  # a per-frame backbone model: TimeDistributed(model) -> LSTM
        "td-backbone-lstm",
        (InputSpec.frames(4, 7, 6, 2),),
        (
            Node(TimeDistributed(Submodel(BACKBONE, name="backbone"), name="td"), ("frames",)),
            Node(LSTM(4, name="lstm"), ("td",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
    ),
    _graph(  # the same with BatchNormalization inside the backbone
        "td-backbone-batch-norm",
        (InputSpec.frames(4, 7, 6, 2),),
        (
            Node(TimeDistributed(Submodel(BN_BACKBONE, name="bn_backbone"), name="td"), ("frames",)),
            Node(GRU(4, name="gru"), ("td",)),
            Node(Dense(1, name="out"), ("gru",)),
        ),
    ),
    _graph(  # explicit TimeDistributed around single layers: Conv2D on frames, Flatten of each frame, Dense on a sequence
        "td-explicit",
        (InputSpec.frames(4, 7, 5, 2), InputSpec.sequence(4, 6, name="side")),
        (
            Node(TimeDistributed(Conv2D(3, 3, activation="relu"), name="td_conv"), ("frames",)),
            Node(TimeDistributed(Flatten(), name="td_flat"), ("td_conv",)),
            Node(TimeDistributed(Dense(4), name="td_dense"), ("side",)),
            Node(Concatenate(name="joined"), ("td_flat", "td_dense")),
            Node(LSTM(3, name="lstm"), ("joined",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
    ),
    _graph(  # a nested model called directly (a CNN-LSTM of frames, sequences out)
        "nested-model",
        (InputSpec.frames(5, 7, 6, 2),),
        (
            Node(
                Submodel(
                    ModelSpec(
                        InputSpec.frames(5, 7, 6, 2, name="clip"),
                        (Conv2D(3, 3, activation="tanh"), Flatten(), LSTM(4, return_sequences=True)),
                        name="inner",
                    ),
                    name="inner",
                ),
                ("frames",),
            ),
            Node(Dense(2, name="out"), ("inner",)),
        ),
    ),
    _graph(  # a nested model of two inputs and two outputs, one of them flattened frames
        "nested-two-in-two-out",
        (InputSpec.frames(5, 9, 7, 2), InputSpec.sequence(5, 3, name="side")),
        (
            Node(Submodel(CNN_LSTM_TWO_OUTPUTS, name="inner"), ("frames", "side")),
            Node(GRU(2, name="gru"), ("inner[0]",)),
            Node(LSTM(2, name="lstm"), ("inner[1]",)),  # an outer `lstm` beside the nested one: paths must differ
            Node(Add(name="out"), ("gru", "lstm")),
        ),
    ),
    _graph(  # models nested twice: a model calling a model that runs a model under TimeDistributed
        "nested-twice",
        (InputSpec.frames(4, 7, 6, 2),),
        (Node(Submodel(BACKBONE_SEQUENCE, name="mid"), ("frames",)), Node(Dense(1, name="out"), ("mid",))),
    ),
    _graph(  # one nested model called on two inputs: shared weights
        "siamese-encoder",
        (InputSpec.sequence(5, 4, name="a"), InputSpec.sequence(5, 4, name="b")),
        (
            Node(Submodel(SEQUENCE_ENCODER, name="encoder"), ("a",)),
            Node(Submodel(SEQUENCE_ENCODER, name="encoder"), ("b",)),
            Node(Concatenate(name="joined"), ("encoder", "encoder@1")),
            Node(Dense(1, name="out"), ("joined",)),
        ),
    ),
    _graph(  # two outputs: a per-timestep head and a GRU on the same sequence
        "two-outputs",
        (InputSpec.frames(4, 6, 5, 2),),
        (
            Node(Conv2D(3, 3, activation="relu", name="conv"), ("frames",)),
            Node(Flatten(name="flat"), ("conv",)),
            Node(LSTM(4, return_sequences=True, name="seq"), ("flat",)),
            Node(Dense(2, name="a"), ("seq",)),
            Node(GRU(3, name="b"), ("seq",)),
        ),
        ("a", "b"),
    ),
    _graph(  # frames out (channels first in torch, Keras' layout at the model's exit) beside a vector input
        "frames-and-vector-out",
        (InputSpec.frames(4, 6, 5, 2), InputSpec.vector(3, name="meta")),
        (
            Node(Conv2D(3, 3, padding="same", activation="relu", name="conv"), ("frames",)),
            Node(GlobalPool2D(name="gap"), ("conv",)),
            Node(LSTM(3, name="lstm"), ("gap",)),
            Node(Concatenate(name="joined"), ("lstm", "meta")),
            Node(Dense(2, name="out"), ("joined",)),
        ),
        ("conv", "out"),
    ),
    _graph(  # a boolean mask input: masked steps carry the state and repeat the output (right padding)
        "gru-mask-input",
        (InputSpec.sequence(6, 4, name="x"), InputSpec.mask(6, name="m")),
        (Node(GRU(3, return_sequences=True, name="gru"), ("x",), mask="m"), Node(Dense(2, name="out"), ("gru",))),
    ),
    _graph(  # the mask of a mask input carried on: through return_sequences and a Dense to the next recurrent layer
        "mask-input-carried",
        (InputSpec.sequence(6, 4, name="x"), InputSpec.mask(6, name="m")),
        (
            Node(LSTM(4, return_sequences=True, name="lstm"), ("x",), mask="m"),
            Node(Dense(3, activation="tanh", name="dense"), ("lstm",)),
            Node(GRU(2, reset_after=False, name="gru"), ("dense",)),
            Node(Dense(1, name="out"), ("gru",)),
        ),
    ),
    _graph(  # one mask input for a Bidirectional LSTM and a backwards GRU
        "bidirectional-mask-input",
        (InputSpec.sequence(6, 4, name="x"), InputSpec.mask(6, name="m")),
        (
            Node(Bidirectional(LSTM(3, return_sequences=True), name="bi"), ("x",), mask="m"),
            Node(GRU(2, go_backwards=True, return_sequences=True, name="gru"), ("x",), mask="m"),
            Node(Concatenate(name="joined"), ("bi", "gru")),
            Node(Dense(1, name="out"), ("joined",)),
        ),
    ),
    _graph(  # a mask input of any length
        "mask-input-open",
        (InputSpec.sequence(None, 4, name="x"), InputSpec.mask(None, name="m")),
        (
            Node(Dense(4, activation="relu", name="pre"), ("x",)),
            Node(SimpleRNN(3, return_sequences=True, name="rnn"), ("pre",), mask="m"),
            Node(Dense(1, name="out"), ("rnn",)),
        ),
    ),
    _graph(  # shared layers: a Dense and an LSTM each called twice ("shared" and "shared@1")
        "shared-layers",
        (InputSpec.sequence(5, 4, name="a"), InputSpec.sequence(5, 4, name="b")),
        (
            Node(Dense(6, activation="tanh", name="shared"), ("a",)),
            Node(Dense(6, activation="tanh", name="shared"), ("b",)),
            Node(LSTM(3, name="encoder"), ("shared",)),
            Node(LSTM(3, name="encoder"), ("shared@1",)),
            Node(Subtract(name="diff"), ("encoder", "encoder@1")),
            Node(Dense(1, name="out"), ("diff",)),
        ),
    ),
    _graph(  # a shared Dense called on flattened frames (features permuted in torch) and on a sequence (Keras' order)
        "shared-on-two-orders",
        (InputSpec.frames(4, 4, 3, 2), InputSpec.sequence(4, 24, name="side")),
        (
            Node(Flatten(name="flat"), ("frames",)),
            Node(Dense(5, activation="tanh", name="shared"), ("flat",)),
            Node(Dense(5, activation="tanh", name="shared"), ("side",)),
            Node(Dense(5, name="shared_b"), ("side",)),  # and the other way round
            Node(Dense(5, name="shared_b"), ("flat",)),
            Node(Concatenate(name="joined"), ("shared", "shared@1", "shared_b", "shared_b@1")),
            Node(GRU(3, name="gru"), ("joined",)),
            Node(Dense(1, name="out"), ("gru",)),
        ),
    ),
    _graph(  # a shared Conv2D on two frame inputs, their difference
        "shared-conv",
        (InputSpec.frames(4, 6, 5, 2, name="left"), InputSpec.frames(4, 6, 5, 2, name="right")),
        (
            Node(Conv2D(3, 3, activation="relu", name="conv"), ("left",)),
            Node(Conv2D(3, 3, activation="relu", name="conv"), ("right",)),
            Node(Subtract(name="diff"), ("conv", "conv@1")),
            Node(GlobalPool2D(name="gap"), ("diff",)),
            Node(LSTM(3, name="lstm"), ("gap",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
    ),
    _graph(  # every merge kind on sequences (three inputs where a merge takes them), Concatenate on features and time
        "every-merge",
        (InputSpec.sequence(5, 4, name="a"), InputSpec.sequence(5, 4, name="b"), InputSpec.sequence(5, 4, name="c")),
        (
            Node(Add(name="add"), ("a", "b", "c")),
            Node(Subtract(name="sub"), ("a", "b")),
            Node(Multiply(name="mul"), ("add", "sub", "c")),
            Node(Average(name="avg"), ("add", "mul")),
            Node(Maximum(name="max"), ("avg", "sub", "a")),
            Node(Minimum(name="min"), ("max", "mul")),
            Node(Concatenate(name="features"), ("min", "add")),
            Node(Concatenate(axis=1, name="time"), ("features", "features")),
            Node(LSTM(3, name="lstm"), ("time",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
    ),
    _graph(  # merges of frames torch keeps channels first: Add, Multiply, Concatenate on channels, height, width, time
        "merge-conv-frames",
        (InputSpec.frames(4, 7, 6, 2),),
        (
            Node(Conv2D(3, 3, padding="same", name="c1"), ("frames",)),
            Node(Conv2D(3, (3, 2), padding="same", activation="relu", name="c2"), ("frames",)),
            Node(Add(name="add"), ("c1", "c2")),
            Node(Multiply(name="mul"), ("c1", "add")),
            Node(Concatenate(name="channels"), ("add", "mul")),  # (T, 7, 6, 6)
            Node(Concatenate(axis=2, name="rows"), ("add", "mul")),  # (T, 14, 6, 3)
            Node(Concatenate(axis=-2, name="columns"), ("add", "mul")),  # (T, 7, 12, 3)
            Node(Pool2D("max", 2, name="pool"), ("channels",)),
            Node(Flatten(name="flat"), ("pool",)),
            Node(GlobalPool2D(name="rows_pool"), ("rows",)),
            Node(GlobalPool2D("max", name="columns_pool"), ("columns",)),
            Node(Concatenate(name="features"), ("flat", "rows_pool", "columns_pool")),
            Node(LSTM(3, name="lstm"), ("features",)),
            Node(Concatenate(axis=1, name="time"), ("c1", "c2")),  # (2T, 7, 6, 3)
            Node(GlobalPool2D(name="time_pool"), ("time",)),
            Node(GRU(2, name="gru"), ("time_pool",)),
        ),
        ("lstm", "gru"),
    ),
    _graph(  # Concatenate of two flattened frames (C > 1, H != W, different grids): the joined features' order is the
        # two permutations end to end, absorbed by the Dense and LSTM weights; in either order
        "concat-flattened-frames",
        (InputSpec.frames(4, 7, 5, 2), InputSpec.frames(4, 6, 4, 3, name="other")),
        (
            Node(Conv2D(3, 3, activation="relu", name="conv"), ("frames",)),
            Node(Flatten(name="f1"), ("conv",)),
            Node(Flatten(name="f2"), ("other",)),
            Node(Concatenate(name="joined"), ("f1", "f2")),
            Node(Dense(5, activation="tanh", name="dense"), ("joined",)),
            Node(Concatenate(name="swapped"), ("f2", "f1")),
            Node(LSTM(3, name="lstm"), ("swapped",)),
            Node(GRU(2, name="gru"), ("dense",)),
            Node(Concatenate(name="out"), ("lstm", "gru")),
        ),
    ),
    _graph(  # element-wise merges and a time Concatenate of flattened frames: the same grid (one permutation, kept),
        # grids of the same size but other shapes (two permutations: back to Keras' order), and a plain sequence
        "merge-flattened-orders",
        (
            InputSpec.frames(4, 3, 4, 2),
            InputSpec.frames(4, 4, 3, 2, name="other"),
            InputSpec.sequence(4, 24, name="side"),
        ),
        (
            Node(Flatten(name="f1"), ("frames",)),
            Node(Flatten(name="f2"), ("other",)),
            Node(Add(name="same_grid"), ("f1", "f1")),
            Node(Add(name="other_grid"), ("f1", "f2")),
            Node(Multiply(name="with_side"), ("same_grid", "side")),
            Node(Concatenate(axis=1, name="time"), ("other_grid", "with_side", "same_grid")),
            Node(LSTM(3, name="lstm"), ("time",)),
            Node(Concatenate(axis=1, name="same_time"), ("same_grid", "f1")),
            Node(GRU(2, name="gru"), ("same_time",)),
            Node(Concatenate(name="out"), ("lstm", "gru")),
        ),
    ),
    _graph(  # joined features in a mixed order (a sequence, then flattened frames) through the layers that keep or absorb
        # it: BatchNorm, TimeDistributed(Dense), Bidirectional GRU, a nested model, a Flatten of the whole sequence
        "feature-orders-through-layers",
        (InputSpec.frames(4, 3, 4, 2), InputSpec.sequence(4, 5, name="side")),
        (
            Node(Flatten(name="flat"), ("frames",)),
            Node(Concatenate(name="joined"), ("side", "flat")),
            Node(BatchNorm(name="bn"), ("joined",)),
            Node(TimeDistributed(Dense(3, activation="tanh"), name="td"), ("bn",)),
            Node(Bidirectional(GRU(2, reset_after=False, return_sequences=True), name="bi"), ("bn",)),
            Node(
                Submodel(ModelSpec(InputSpec.sequence(4, 29, name="steps"), (Dense(3),), name="steps_model"), name="steps"),
                ("bn",),
            ),
            Node(Concatenate(name="all_steps"), ("td", "bi", "steps")),
            Node(LSTM(2, name="lstm"), ("all_steps",)),
            Node(Flatten(name="whole"), ("flat",)),  # (T, features) -> one vector
            Node(Dense(2, name="whole_dense"), ("whole",)),
            Node(Concatenate(name="out"), ("lstm", "whole_dense")),
        ),
    ),
    _graph(  # size-1 axes broadcast: flattened frames times a (T, 1) gate, frames times a one-channel attention map
        "gated-broadcast",
        (InputSpec.frames(4, 3, 4, 2), InputSpec.sequence(4, 5, name="side")),
        (
            Node(Flatten(name="flat"), ("frames",)),
            Node(Dense(1, activation="sigmoid", name="gate"), ("side",)),
            Node(Multiply(name="gated"), ("flat", "gate")),
            Node(Conv2D(1, 2, padding="same", activation="sigmoid", name="attention"), ("frames",)),
            Node(Multiply(name="attended"), ("frames", "attention")),
            Node(Flatten(name="flat_attended"), ("attended",)),
            Node(Concatenate(name="joined"), ("gated", "flat_attended")),
            Node(LSTM(3, name="lstm"), ("joined",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
    ),
    _graph(  # Reshape a sequence into frames (Keras' layout in, channels first for the Conv2D) and back, in steps, and
        # the frames into other steps (a Reshape that is not a per-frame flatten)
        "reshape-to-frames",
        (InputSpec.sequence(4, 24, name="seq"),),
        (
            Node(Reshape((4, 4, 3, 2), name="frames"), ("seq",)),
            Node(Conv2D(3, 2, name="conv"), ("frames",)),
            Node(Flatten(name="flat"), ("conv",)),
            Node(Reshape((4, 6, 3), name="split"), ("flat",)),
            Node(Reshape((4, 18), name="merged"), ("split",)),
            Node(LSTM(3, name="lstm"), ("merged",)),
            Node(Reshape((8, 9), name="regrouped"), ("conv",)),  # frames to other steps: values move, not a flatten
            Node(GRU(2, name="gru"), ("regrouped",)),
            Node(Concatenate(name="out"), ("lstm", "gru")),
        ),
    ),
    _graph(  # Bidirectional(merge_mode=None)'s two outputs ("bi[0]", "bi[1]") merged, and one of them a model output
        "bidirectional-pair-merged",
        (InputSpec.sequence(5, 4, name="x"),),
        (
            Node(Bidirectional(GRU(3, return_sequences=True), merge_mode=None, name="bi"), ("x",)),
            Node(Average(name="avg"), ("bi[0]", "bi[1]")),
            Node(Dense(1, name="out"), ("avg",)),
        ),
        ("out", "bi[1]"),
    ),
    _graph(  # a channels_first graph: frames and a sequence in, an Add of two convolutions, both Flatten orders
        "channels-first-graph",
        (InputSpec.frames(4, 7, 5, 2), InputSpec.sequence(4, 3, name="side")),
        (
            Node(Conv2D(3, 3, padding="same", name="c1"), ("frames",)),
            Node(Conv2D(3, (2, 3), padding="same", activation="relu", name="c2"), ("frames",)),
            Node(Add(name="add"), ("c1", "c2")),
            Node(BatchNorm(name="bn"), ("add",)),
            Node(Pool2D("max", 2, name="pool"), ("bn",)),
            Node(Flatten("channels_first", name="hwc"), ("pool",)),
            Node(Flatten(name="chw"), ("pool",)),
            Node(Concatenate(name="joined"), ("hwc", "chw", "side")),
            Node(LSTM(3, name="lstm"), ("joined",)),
            Node(Dense(1, name="out"), ("lstm",)),
        ),
        ("out", "add"),
        data_format="channels_first",
    ),
)

INPUT_KIND_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(InputSpec.sequence(100, 100), (LSTM(64), Dense(1)), name="article-example-1"),  # the article's example 1
    ModelSpec(InputSpec.sequence(None, 5), (LSTM(4, return_sequences=True), Dense(2)), name="sequence-open-lstm"),
    ModelSpec(InputSpec.sequence(None, 5), (GRU(4), Dense(1)), name="sequence-open-gru"),
    ModelSpec(InputSpec.sequence(6, 5), (GRU(3, reset_after=False, return_sequences=True), Dense(2)), name="sequence-gru"),
    ModelSpec(InputSpec.vector(7), (Dense(5, activation="relu"), Dense(2)), name="vector-dense"),
    ModelSpec(InputSpec.grid(9, 7, 2), (Conv2D(3, 3, activation="relu"), Pool2D("max", 2), Flatten(), Dense(2)), name="grid-cnn"),
    ModelSpec(  # output width 3 == filters 3: TensorFlow's Keras adds the bias on the width (see known_issues)
        InputSpec.grid(7, 5, 2),
        (Conv2D(3, 3, activation="relu"), Flatten("channels_first"), Dense(2)),
        name="channels-first-grid",
        data_format="channels_first",
    ),
    # frames without a channel axis (T, H, W), flattened per frame two ways, and with the time axis open
    ModelSpec(InputSpec((5, 6, 4), name="planes"), (Reshape((5, 24)), LSTM(3), Dense(1)), name="planes-reshape"),
    ModelSpec(InputSpec((None, 6, 4), name="planes"), (Reshape((-1, 24)), LSTM(3), Dense(1)), name="planes-reshape-open"),
    ModelSpec(InputSpec((5, 6, 4), name="planes"), (TimeDistributed(Flatten()), GRU(3), Dense(1)), name="planes-td-flatten"),
    # sequences of 1D signals (T, L, C), each step flattened (length, channels)
    ModelSpec(InputSpec((5, 8, 3), name="signals"), (TimeDistributed(Flatten()), LSTM(3), Dense(1)), name="signals-td-flatten"),
)


MASK_PATTERNS = ("right-padding", "left-padding", "gaps", "a-sample-all-masked")


def step_mask(pattern: str, batch: int, steps: int) -> np.ndarray:
    """``True`` where a timestep is real, per sample ``(batch, steps)``: the padding layouts people feed a Masking layer."""
    valid = np.ones((batch, steps), dtype=bool)
    if pattern == "right-padding":  # post-padding, different lengths (the fused, packed path)
        for b, length in enumerate((steps, steps - 2, 1, steps - 1)[:batch]):
            valid[b, length:] = False
    elif pattern == "left-padding":  # pre-padding (Keras' pad_sequences default)
        for b, length in enumerate((steps, 2, steps - 1, 1)[:batch]):
            valid[b, : steps - length] = False
    elif pattern == "gaps":  # missing readings in the middle
        valid[:, 1] = False
        valid[1::2, 3] = False
    elif pattern == "a-sample-all-masked":
        valid[1, :] = False
        valid[2, 3:] = False
    else:
        raise ValueError(f"pattern: expected one of {MASK_PATTERNS}, got {pattern!r}")
    return valid


def masked_inputs(spec: ModelSpec, x: np.ndarray, pattern: str) -> np.ndarray:
    """``x`` (B, T, H, W, C) with the masked steps of ``pattern`` set to the spec's ``mask_value`` (every feature)."""
    mask_value = next(layer.mask_value for layer in spec.layers if isinstance(layer, Masking))
    x = x.copy()
    x[~step_mask(pattern, *x.shape[:2])] = mask_value
    return x


TRAJECTORY_SPECS: tuple[ModelSpec, ...] = (
    # The article's presets, 8 timesteps instead of 100. Not next-frame: its ReLU ConvLSTM2D cells grow rounding
    # differences step by step, which Adam's per-element normalisation turns into 1e-3 loss differences by step 10
    # (SGD stays within 3e-6 over 50 steps); conv-lstm-next-frame below covers ConvLSTM2D, BatchNorm and Conv3D.
    *(get_preset(name).with_input(timesteps=8) for name in preset_names() if name.startswith("seed-")),
    ModelSpec(  # GRU both conventions, Bidirectional, and BatchNorm in both modes behind a per-frame CNN.
        # In training the first BatchNorm takes statistics per timestep (TimeDistributed), the second over batch
        # and time. Every parameter's gradient is non-zero in exact arithmetic: no bias right before a BatchNorm,
        # no BatchNorm's beta shifting the next BatchNorm's input uniformly (such gradients are exactly zero, and
        # Adam turns the rounding noise they carry into steps of size lr, different in each framework).
        InputSpec.frames(8, 6, 5, 2),
        layers=(
            Conv2D(3, 3, activation="relu"),
            BatchNorm(per_timestep=True),
            Activation("tanh"),
            Pool2D("max", 2),
            Flatten(),
            BatchNorm(),
            Bidirectional(GRU(6, return_sequences=True)),  # reset_after=True: two biases, like torch
            GRU(4, reset_after=False),  # one bias, torch's bias_hh frozen
            Dense(3),
        ),
        name="gru-bidirectional-batch-norm",
    ),
    _seq(
        "simple-rnn-exact-lstm",  # SimpleRNN, and an LSTM on the exact step loop (non-default activations)
        SimpleRNN(6, return_sequences=True),
        LSTM(5, activation="elu", recurrent_activation="hard_sigmoid"),
        Dense(3),
        timesteps=8,
    ),
    ModelSpec(
        InputSpec.frames(6, 6, 5, 2),
        layers=(ConvLSTM2D(3, 3, padding="same", return_sequences=True), BatchNorm(), Conv3D(2, 3, padding="same")),
        name="conv-lstm-next-frame",
    ),
)


def with_classes(spec: ModelSpec, classes: int = 3) -> ModelSpec:
    """``spec`` with a last ``Dense(1)`` (a regression head) widened to ``classes`` logits, for cross-entropy."""
    last = spec.layers[-1]
    if not isinstance(last, Dense) or last.units >= 2:
        return spec
    return ModelSpec(spec.input, (*spec.layers[:-1], Dense(classes, name=last.name)), name=spec.name)


ALL_SPECS: tuple[ModelSpec, ...] = (*PARITY_SPECS, *LAYER_SPECS, *MASKED_SPECS, *GRAPH_SPECS, *INPUT_KIND_SPECS)
"""Every spec the parity suite runs forward and backward (the trajectory models are variants of presets and these)."""


def open_timesteps(spec: ModelSpec, timesteps: int = 5) -> int | None:
    """The timesteps to feed a spec with an open time axis (``timesteps``), or None where every input has its length."""
    return timesteps if any(i.shape[0] is None for i in spec.inputs) else None


# Shape, normalisation, regularisation and activation layers (issue 14): each kind and its awkward settings, with H != W
# and C > 1 where frames are normalised or flattened, so the layouts (channels first, a flatten's feature order) matter.
SHAPE_NORM_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(  # Dense on frames: their channels, a 1x1 convolution on channels-first frames (softmax over the channels)
        InputSpec.frames(3, 5, 4, 2),
        (Dense(3, activation="softmax"), Conv2D(2, 3, padding="same", activation="relu"), Dense(4, activation="tanh"),
         Flatten(), LSTM(3), Dense(2)),
        name="dense-on-frames",
    ),
    ModelSpec(  # Dense on a rank-3 tensor in Keras' layout, a Permute of its two inner axes, each step flattened
        InputSpec((4, 6, 3), name="signals"),
        (Dense(5, activation="relu"), Permute((1, 3, 2)), TimeDistributed(Flatten()), LSTM(3), Dense(1)),
        name="dense-permute-signals",
    ),
    ModelSpec(  # a Permute of frames (height and width swapped), then of flattened frames (features to time: gathered)
        InputSpec.frames(3, 5, 4, 2),
        (Permute((1, 3, 2, 4)), Conv2D(3, 2, activation="relu"), Flatten(), Permute((2, 1)), LSTM(2), Dense(1)),
        name="permute-frames",
    ),
    ModelSpec(  # Keras' Flatten of a whole sequence of frames: one feature order block per frame, through LN and PReLU
        InputSpec.frames(3, 5, 4, 2),
        (Conv2D(3, 3, padding="same"), Flatten(whole=True), LayerNorm(), PReLU(), Dense(2)),
        name="flatten-whole-frames",
    ),
    ModelSpec(  # LayerNormalization of flattened frames: gamma and beta permuted like the features, over time too
        InputSpec.frames(4, 3, 4, 2),
        (Flatten(), LayerNorm(), Permute((1, 2)), LayerNorm(axis=(1, 2), epsilon=0.01), UnitNorm(), LSTM(3), Dense(2)),
        name="layer-norm-flattened",
    ),
    ModelSpec(  # LayerNormalization of inner axes: the time axis of frames, their height and width (the last dims of
        # channels-first frames in torch: one fused layer_norm), the time axis of a sequence (see known_issues)
        InputSpec.frames(3, 5, 4, 2),
        (Conv2D(3, 3, padding="same"), LayerNorm(axis=1, center=False), LayerNorm(axis=(2, 3)), Flatten(),
         LayerNorm(axis=1), Dense(2)),
        name="layer-norm-inner-axes",
    ),
    ModelSpec(  # LayerNormalization of channels-first frames: the channels, (H, W, C) with gamma transposed, time and
        # channels with rms_scaling
        InputSpec.frames(3, 5, 4, 2),
        (Conv2D(3, 3, padding="same"), LayerNorm(), LayerNorm(axis=(2, 3, 4), center=False),
         LayerNorm(axis=(1, 4), rms_scaling=True), Pool2D("max", 2), Flatten(), Dense(2)),
        name="layer-norm-frames",
    ),
    ModelSpec(  # GroupNormalization of frames (over time too), per frame (instance norm), of flattened frames (Keras'
        # feature order: gathered); UnitNormalization over height and width
        InputSpec.frames(3, 5, 4, 2),
        (Conv2D(4, 3, padding="same"), GroupNorm(2), UnitNorm(axis=(2, 3)), TimeDistributed(GroupNorm(4, epsilon=0.01)),
         Flatten(), GroupNorm(5, center=False), LSTM(3), Dense(1)),
        name="group-unit-norm",
    ),
    ModelSpec(  # GroupNormalization of a grid: torch's fused group_norm
        InputSpec.grid(5, 4, 2),
        (Conv2D(4, 3, padding="same"), GroupNorm(2, scale=False), Flatten(), Dense(2)),
        name="group-norm-grid",
    ),
    ModelSpec(  # Rescaling, an adapted Normalization per channel, given statistics per column (broadcast over the rows),
        # inverted; an adapted scalar Normalization (axis=None) of flattened frames
        InputSpec.frames(3, 5, 4, 2),
        (Rescaling(0.5, -0.25), Normalization(),
         Normalization(axis=(2, 3), mean=(0.5, -0.5, 0.25, 0.0), variance=(1.5, 0.5, 2.0, 1.0), invert=True),
         Conv2D(2, 3), Flatten(), Normalization(axis=()), Dense(1)),
        name="normalization-rescaling",
    ),
    ModelSpec(  # activation layers: ReLU with every option, PReLU per channel, per frame and per flattened feature (each
        # after a Dense, so it sees negative values whatever the slopes before), LeakyReLU's own default slope, ELU,
        # ReLU(max_value=6)
        InputSpec.frames(3, 5, 4, 2),
        (Conv2D(3, 3, padding="same"), ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2), PReLU(shared_axes=(1, 2, 3)),
         Dense(3), LeakyReLU(), ELU(alpha=0.7), TimeDistributed(PReLU(shared_axes=(1,))), Dense(3), Flatten(),
         PReLU(shared_axes=(1,)), Dense(4), ReLU(max_value=6.0), Dense(2)),
        name="activation-layers",
    ),
    ModelSpec(  # Softmax over the channels (dim -3 in torch), the height, height and width together, time, features
        InputSpec.frames(3, 5, 4, 2),
        (Conv2D(3, 3, padding="same"), Softmax(), Softmax(axis=2), Softmax(axis=(2, 3)), Softmax(axis=1), Flatten(),
         Softmax(), Dense(2)),
        name="softmax-axes",
    ),
    ModelSpec(  # RMSNormalization of the channels (dim -3 of channels-first frames), of (H, W, C) (scale transposed, one
        # fused rms_norm), of flattened frames (scale permuted like the features)
        InputSpec.frames(3, 5, 4, 2),
        (Conv2D(3, 3, padding="same"), RMSNorm(), RMSNorm(axis=(2, 3, 4), epsilon=0.01), Flatten(), RMSNorm(), Dense(2)),
        name="rms-norm",
    ),
    ModelSpec(  # noise and activity regularisation: identities at inference
        InputSpec.sequence(4, 5),
        (GaussianNoise(0.2), GaussianDropout(0.3), AlphaDropout(0.2), ActivityRegularization(0.01, 0.02), LSTM(3), Dense(1)),
        name="noise-identities",
    ),
    _channels_first(  # Keras' axes of channels_first frames (time, channels, height, width); output width 6 != 4 filters
        "norms",
        InputSpec.frames(3, 5, 6, 2),
        Conv2D(4, 3, padding="same"), GroupNorm(2, axis=2), PReLU(shared_axes=(1, 3, 4)),
        Softmax(axis=-1), UnitNorm(axis=(3, 4)), Normalization(axis=2), LayerNorm(axis=(2, 3, 4)), Pool2D("max", 2),
        Flatten(), LSTM(3), Dense(1),
    ),
    _channels_first(  # LayerNormalization of the channels (Keras' axis 2, an inner axis: see known_issues)
        "layer-norm-channels",
        InputSpec.frames(3, 5, 6, 2),
        Conv2D(4, 3, padding="same"), LayerNorm(axis=2), Flatten(), Dense(1),
    ),
    _channels_first(  # RMSNormalization of Keras' (channels, height, width) and of the width alone
        "rms-norm",
        InputSpec.frames(3, 5, 6, 2),
        Conv2D(4, 3, padding="same"), RMSNorm(axis=(2, 3, 4)), RMSNorm(axis=-1, epsilon=0.1), Flatten(), Dense(1),
    ),
    _channels_first(  # Flatten of a whole sequence of channels_first frames: (T, C, H, W), torch's order
        "flatten-whole",
        InputSpec.frames(3, 5, 6, 2),
        Conv2D(3, 3, padding="same"), Flatten(whole=True), Dense(2),
    ),
)  # fmt: skip
SHAPE_NORM_GRAPH_SPECS: tuple[ModelSpec, ...] = (
    _graph(  # attention pooling: a softmax over the steps a mask input keeps (0 where it masks), weighting the steps
        "softmax-masked-attention",
        (InputSpec.sequence(5, 4, name="x"), InputSpec.mask(5, name="m")),
        (
            Node(Dense(1, name="score"), ("x",)),
            Node(Reshape((5,), name="scores"), ("score",)),
            Node(Softmax(name="weights"), ("scores",), mask="m"),
            Node(Reshape((5, 1), name="column"), ("weights",)),
            Node(Multiply(name="weighted"), ("x", "column")),
            Node(Flatten(name="flat"), ("weighted",)),
            Node(Dense(2, name="out"), ("flat",)),
        ),
        ("out", "weights"),
    ),
)
LAYER_SPECS += SHAPE_NORM_SPECS
GRAPH_SPECS += SHAPE_NORM_GRAPH_SPECS
ALL_SPECS += SHAPE_NORM_SPECS + SHAPE_NORM_GRAPH_SPECS


# 1D layers (issue 14): on a sequence (T, F), one signal over time (a Conv1D front end before an LSTM), and on 1D signals
# (T, L, C), one per step (Keras' TimeDistributed(Conv1D)). Each awkward setting changes the numbers: causal padding
# with dilation, even kernels with 'same', strides on odd lengths, T = 1, C > 1, an open time axis, a flatten after,
# features in torch's flatten order, and masks (GlobalAveragePooling1D averages the real steps; the others drop them).
ONE_D_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        InputSpec.sequence(11, 3, name="series"),
        (
            Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu"),
            Conv1D(5, 4, strides=2, padding="same", activation="tanh"),  # even kernel, stride 2 on 11 steps
            Pool1D("max", 2, padding="same"),  # 6 -> 3
            LSTM(4),
            Dense(1),
        ),
        name="conv1d-front-end-lstm",
    ),
    ModelSpec(
        InputSpec.sequence(6, 4, name="series"),
        (Conv1D(6, 3, padding="same", groups=2, activation="softmax"), Conv1D(4, 2, strides=3, use_bias=False), GRU(3), Dense(2)),
        name="conv1d-groups-softmax-strided",
    ),
    ModelSpec(  # asymmetric 'same' average pooling: over the valid steps only (the torch backend: known_issues)
        InputSpec.sequence(8, 2, name="series"),
        (Pool1D("avg", 3, strides=2, padding="same"), Pool1D("avg", 2, strides=1), Flatten(), Dense(2)),  # 8 -> 4 -> 3
        name="avg-pool1d-same",
    ),
    ModelSpec(
        InputSpec.sequence(5, 3, name="series"),
        (
            Conv1DTranspose(4, 3, strides=2, padding="same", activation="elu"),  # k - s odd: one more cell cut at the end
            Conv1DTranspose(3, 4, dilation_rate=2, padding="same"),
            Conv1DTranspose(2, 2, strides=3),  # valid, kernel < stride: zeros appended
            LSTM(2, return_sequences=True),
            Dense(1),
        ),
        name="conv1d-transpose",
    ),
    ModelSpec(
        InputSpec.sequence(6, 3, name="series"),
        (
            ZeroPadding1D((2, 1)),
            Conv1D(4, 3),
            Cropping1D((1, 2)),
            UpSampling1D(3),
            Pool1D("max", 3, strides=2),
            GlobalPool1D("max"),
            Dense(2),
        ),
        name="pad-crop-upsample-global-max",
    ),
    ModelSpec(
        InputSpec.sequence(1, 4, name="series"),
        (Conv1D(3, 3, padding="same"), Conv1D(3, 2, padding="causal"), GlobalPool1D(keepdims=True), Dense(1)),
        name="conv1d-one-timestep",
    ),
    ModelSpec(
        InputSpec.sequence(None, 3, name="series"),
        (
            Conv1D(4, 3, padding="causal", activation="relu"),
            Conv1D(4, 3, strides=2, padding="same"),
            Pool1D("max", 2, padding="same"),
            GlobalPool1D(),
            Dense(1),
        ),
        name="conv1d-open-time",
    ),
    ModelSpec(  # flattened frames (C > 1, H != W) in torch's order: absorbed by the Conv1D kernels, kept by the pooling
        InputSpec.frames(6, 4, 3, 2),
        (Flatten(), Conv1D(4, 3, padding="same"), Pool1D("max", 2), GlobalPool1D("max"), Dense(2)),
        name="frames-flatten-conv1d",
    ),
    ModelSpec(
        InputSpec.frames(4, 3, 4, 2),
        (Conv2D(3, 2, activation="relu"), Flatten(), Conv1DTranspose(3, 2, strides=2), LSTM(2), Dense(1)),
        name="frames-flatten-conv1d-transpose",
    ),
    ModelSpec(  # the mask reaches the average through the LSTM's sequences
        InputSpec.sequence(6, 3, name="series"),
        (Masking(), LSTM(4, return_sequences=True), GlobalPool1D(), Dense(1)),
        name="masked-lstm-global-average",
    ),
    ModelSpec(  # Keras' Conv1D and GlobalMaxPooling1D drop the mask (with a warning): the LSTM and the max see every step
        InputSpec.sequence(6, 3, name="series"),
        (Masking(), Conv1D(4, 2, padding="causal"), LSTM(3, return_sequences=True), GlobalPool1D("max"), Dense(1)),
        name="masked-conv1d-drops-mask",
    ),
    ModelSpec(
        inputs=(InputSpec.sequence(6, 3, name="x"), InputSpec.mask(6, name="m")),
        nodes=(
            Node(GlobalPool1D(name="direct"), ("x",), mask="m"),  # a boolean input as mask=
            Node(GRU(4, return_sequences=True, name="gru"), ("x",), mask="m"),
            Node(GlobalPool1D(name="carried"), ("gru",)),  # the mask the GRU's sequences carry
            Node(Concatenate(name="joined"), ("direct", "carried")),
            Node(Dense(1, name="out"), ("joined",)),
        ),
        outputs=("out",),
        name="global-average-mask-input",
    ),
    ModelSpec(
        InputSpec((5, 9, 3), name="signals"),
        (
            Conv1D(4, 4, strides=2, padding="same", activation="relu"),  # per step: 9 -> 5
            Pool1D("max", 2, padding="same"),
            Conv1D(3, 2, padding="causal", dilation_rate=2),
            GlobalPool1D(),  # (T, L, C) -> (T, C)
            LSTM(3),
            Dense(1),
        ),
        name="signals-conv1d-per-step",
    ),
    ModelSpec(
        InputSpec((4, 10, 2), name="signals"),
        (
            ConvLSTM1D(3, 3, padding="same", go_backwards=True, return_sequences=True),
            ConvLSTM1D(2, 2, strides=2, recurrent_activation="hard_sigmoid", activation="elu"),  # the last state (L, F)
            Conv1D(2, 2),  # the state as a sequence
            Flatten(),
            Dense(1),
        ),
        name="signals-conv-lstm1d",
    ),
    ModelSpec(
        InputSpec((3, 6, 2), name="signals"),
        (
            ZeroPadding1D(1),
            Conv1DTranspose(3, 3, strides=2),
            Cropping1D((0, 2)),
            UpSampling1D(2),
            Pool1D("avg", 2),
            Conv1D(2, 3, groups=1, dilation_rate=3),
            TimeDistributed(Flatten()),
            GRU(2),
        ),
        name="signals-resize-per-step",
    ),
    ModelSpec(
        InputSpec((None, 8, 2), name="signals"),
        (Conv1D(3, 3, padding="same"), GlobalPool1D("max"), LSTM(2, return_sequences=True), Dense(1)),
        name="signals-open-time",
    ),
    ModelSpec(
        inputs=(InputSpec((4, 7, 2), name="signals"),),
        nodes=(
            Node(TimeDistributed(Conv1D(3, 2, activation="relu"), name="td_conv"), ("signals",)),  # explicit
            Node(Conv1D(3, 2, activation="relu", name="conv"), ("signals",)),  # the implicit rule: the same computation
            Node(Add(name="both"), ("td_conv", "conv")),
            Node(TimeDistributed(GlobalPool1D(), name="td_pool"), ("both",)),
            Node(LSTM(2, name="out"), ("td_pool",)),
        ),
        outputs=("out",),
        name="signals-time-distributed",
    ),
)
ALL_SPECS += ONE_D_SPECS


SPATIAL_CATALOG_SPECS: tuple[ModelSpec, ...] = (  # most end in a per-step Dense on every feature: the random weights of
    # depthwise and transposed kernels (scaled by their Keras fan-in) shrink the signal, which pooling and recurrent heads
    # would shrink further, to where a wrong cell would hardly show
    ModelSpec(  # 'same': an odd kernel with stride 2 cuts the odd cell at the end, an even one both ends; a flatten after
        InputSpec.frames(3, 5, 4, 2),
        layers=(
            Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
            Conv2DTranspose(2, (4, 2), strides=(2, 1), padding="same", use_bias=False),
            Flatten(), LSTM(3), Dense(2),
        ),
        name="conv2d-transpose-same",
    ),
    ModelSpec(  # 'valid' with output_padding, 'same' with an output_padding, a kernel under its stride (zeros and the
        # bias at the end); odd sizes, H != W. (Not a 1x1 kernel with strides: TensorFlow's oneDNN CPU kernels corrupt
        # the heap computing its gradient, and the process aborts.)
        InputSpec.frames(3, 3, 2, 2),
        layers=(
            Conv2DTranspose(3, (3, 2), strides=(3, 2), output_padding=(1, 1), activation="tanh"),
            Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=0), Conv2DTranspose(2, 2, strides=3),
            Flatten(), Dense(2),
        ),
        name="conv2d-transpose-output-padding",
    ),
    ModelSpec(
        InputSpec.frames(3, 5, 6, 2),
        layers=(
            Conv2DTranspose(3, (3, 2), dilation_rate=(2, 1), padding="same"), Conv2DTranspose(2, 2, dilation_rate=2),
            Flatten(), Dense(1),
        ),
        name="conv2d-transpose-dilated",
    ),
    ModelSpec(  # MobileNet's blocks: depthwise with a depth multiplier, strided 'same'; separable likewise
        InputSpec.frames(3, 9, 8, 3),
        layers=(
            DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu6"),
            SeparableConv2D(4, 3, padding="same", depth_multiplier=2, activation="swish"),
            SeparableConv2D(3, (2, 2), strides=2, use_bias=False), Flatten(), Dense(2),
        ),
        name="depthwise-separable",
    ),
    ModelSpec(  # dilation, and strides and dilation over 1 together (Keras takes both in depthwise convolutions alone)
        InputSpec.frames(2, 11, 10, 2),
        layers=(
            DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same"),
            DepthwiseConv2D((2, 3), dilation_rate=2, padding="same", use_bias=False),
            SeparableConv2D(3, 2, strides=(1, 2), dilation_rate=2), Flatten(), Dense(1),
        ),
        name="depthwise-strided-dilated",
    ),
    ModelSpec(  # padding, cropping (uneven sides), nearest and bilinear upsampling (factors 2 and 3), channel dropout
        InputSpec.frames(3, 5, 4, 2),
        layers=(
            ZeroPadding2D(((1, 2), (0, 1))), Cropping2D(((1, 0), (2, 1))), UpSampling2D((2, 3)),
            UpSampling2D((3, 2), "bilinear"), SpatialDropout2D(0.3), Conv2D(2, 3, strides=2), Flatten(), GRU(3), Dense(1),
        ),
        name="resize-2d",
    ),
    ModelSpec(  # a single grid: the 2D layers without a time axis
        InputSpec.grid(7, 5, 3),
        layers=(
            ZeroPadding2D(1), DepthwiseConv2D(3, depth_multiplier=2), Conv2DTranspose(2, 2, strides=2, padding="same"),
            UpSampling2D(2, "bilinear"), Cropping2D(((0, 1), (2, 0))), SeparableConv2D(3, 3, strides=2), Flatten(), Dense(2),
        ),
        name="grid-spatial-2d",
    ),
    ModelSpec(  # pooling over time, height and width: a frame alone (1, 2, 2), 'same' windows over time (the average
        # over valid cells, the max ignoring padding), odd sizes
        InputSpec.frames(5, 7, 6, 2),
        layers=(
            Pool3D("max", (1, 2, 2)), Pool3D("avg", (2, 3, 2), strides=(2, 2, 1), padding="same"),
            Pool3D("max", (3, 2, 2), strides=1, padding="same"), Flatten(), LSTM(3), Dense(1),
        ),
        name="pool3d",
    ),
    ModelSpec(  # max pooling alone, which Keras' torch backend gets right where it fails the 'same' average above; no
        # window of the second pool spans time: two copies of one cell (the first pool's windows overlap in time) would
        # tie, and TensorFlow's gradient goes to both
        InputSpec.frames(4, 7, 6, 2),
        layers=(
            Pool3D("max", 2, strides=(1, 2, 2), padding="same"), Pool3D("max", (1, 3, 2), padding="same"), Flatten(),
            Dense(2),
        ),
        name="pool3d-max",
    ),
    _graph(
        "global-pool3d",
        (InputSpec.frames(5, 6, 5, 2),),
        (
            Node(Pool3D("avg", 2, name="pool"), ("frames",)),
            Node(GlobalPool3D("max", name="max"), ("frames",)),  # in the order Keras' files list the layers
            Node(GlobalPool3D(name="mean"), ("pool",)),
            Node(Concatenate(name="joined"), ("mean", "max")),
            Node(Dense(2, name="out"), ("joined",)),
        ),
    ),
    ModelSpec(  # a decoder over volumes: transposed 3D convolutions (stride 2 'same' and 'valid'), padding, cropping,
        # upsampling, channel dropout per volume
        InputSpec.frames(3, 4, 3, 2),
        layers=(
            Conv3DTranspose(3, (2, 3, 3), strides=(1, 2, 2), padding="same", activation="relu"),
            Conv3DTranspose(2, 2, strides=2, output_padding=(1, 0, 1)), ZeroPadding3D(((1, 0), (1, 1), (0, 2))),
            Cropping3D(((0, 1), (1, 0), (1, 1))), UpSampling3D((2, 1, 2)), SpatialDropout3D(0.2), Flatten(), Dense(2),
        ),
        name="volume-3d",
    ),
    ModelSpec(  # any number of timesteps: the 3D layers on an open time axis (which the output keeps)
        InputSpec.frames(None, 6, 5, 2),
        layers=(
            Pool3D("avg", (1, 2, 2), padding="same"), Conv3DTranspose(2, (3, 2, 2), padding="same"),
            ZeroPadding3D(((1, 0), (0, 0), (1, 1))), Cropping3D(((0, 1), (1, 0), (0, 0))), UpSampling3D((1, 2, 1)),
            Flatten(), Dense(2),
        ),
        name="volume-3d-open-time",
    ),
    _channels_first(  # the 2D layers in a channels_first model; a flatten in (height, width, channels) order
        "spatial-2d",
        InputSpec.frames(3, 6, 5, 2),
        ZeroPadding2D(((0, 1), (1, 1))), DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
        SeparableConv2D(3, (2, 3), padding="same"), Conv2DTranspose(2, 3, strides=2, padding="same"),
        UpSampling2D((1, 2), "bilinear"), Cropping2D(((1, 1), (0, 2))), SpatialDropout2D(0.5), Flatten("channels_first"),
        Dense(2),
    ),
    _graph(  # an inverted residual block of MobileNetV2 on every frame, after EfficientNet's stem (ZeroPadding2D then
        # a strided 'valid' Conv2D)
        "inverted-residual-frames",
        (InputSpec.frames(3, 9, 8, 3),),
        (
            Node(ZeroPadding2D(((0, 1), (0, 1)), name="stem_pad"), ("frames",)),
            Node(Conv2D(4, 3, strides=2, use_bias=False, name="stem"), ("stem_pad",)),
            Node(BatchNorm(name="stem_bn"), ("stem",)),
            Node(Activation("relu6", name="stem_relu"), ("stem_bn",)),
            Node(Conv2D(8, 1, name="expand"), ("stem_relu",)),
            Node(DepthwiseConv2D(3, padding="same", activation="relu6", name="depthwise"), ("expand",)),
            Node(Conv2D(4, 1, use_bias=False, name="project"), ("depthwise",)),
            Node(BatchNorm(name="project_bn"), ("project",)),
            Node(Add(name="residual"), ("stem_relu", "project_bn")),
            Node(Flatten(name="flat"), ("residual",)),
            Node(Dense(2, name="out"), ("flat",)),
        ),
    ),
)  # fmt: skip
LAYER_SPECS = (*LAYER_SPECS, *SPATIAL_CATALOG_SPECS)
ALL_SPECS = (*ALL_SPECS, *SPATIAL_CATALOG_SPECS)


CATALOG_SPECS: tuple[ModelSpec, ...] = (*SHAPE_NORM_SPECS, *ONE_D_SPECS, *SPATIAL_CATALOG_SPECS)
"""The layer catalog's specs (issue 14). The default run checks each one's forward parity and weight round trip, and
the Keras files of :data:`CATALOG_FILE_SAMPLES`; ``-m deep`` writes and reads the files of every one."""
CATALOG_FILE_SAMPLES = frozenset(
    {
        "channels_first-norms", "activation-layers", "normalization-rescaling", "noise-identities", "rms-norm",
        "permute-frames", "flatten-whole-frames", "pad-crop-upsample-global-max", "conv1d-transpose",
        "signals-conv-lstm1d", "masked-lstm-global-average", "conv1d-front-end-lstm", "volume-3d", "pool3d-max",
        "depthwise-separable", "resize-2d", "conv2d-transpose-output-padding", "softmax-axes", "global-pool3d",
        "inverted-residual-frames",
    }
)  # fmt: skip
"""Catalog specs whose Keras files the default run writes and reads: between them every catalog kind."""
