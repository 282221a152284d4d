"""Graph models the command-line tests share: several inputs of several kinds, a shared layer, a nested model, a mask
and two outputs (built as lstm2d specs; ``torch_impl.to_keras`` writes them as Keras files without Keras)."""

from __future__ import annotations

from lstm2d.spec import LSTM, Add, Concatenate, Conv2D, Dense, Flatten, InputSpec, ModelSpec, Node, Submodel, TimeDistributed

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
