"""Specs several test modules share, built without Keras (``torch_impl.to_keras`` writes them as Keras files):
a graph of several inputs of several kinds, a shared layer, a nested model, a mask and two outputs (the command-line
tests), and one model of every layer kind plus one of every graph-only kind."""

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
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    Dense,
    Dropout,
    Flatten,
    InputSpec,
    Masking,
    Maximum,
    Minimum,
    ModelSpec,
    Multiply,
    Node,
    Pool2D,
    RepeatVector,
    Reshape,
    SimpleRNN,
    Submodel,
    Subtract,
    TimeDistributed,
)

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
