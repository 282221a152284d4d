"""Hypothesis strategies for random valid model descriptions in bounded sizes.

A drawn spec is a CNN-then-recurrent model (per-frame 2D layers, a Flatten or global pooling,
layers on the sequence, recurrent layers, a Dense head) or a ConvLSTM2D model (ConvLSTM2D layers,
BatchNorm, then a Conv3D, a 2D head on the last state, or a flatten into recurrent layers). Sizes are
small so one example costs well under a second per Keras backend; a draw the spec rejects (a kernel
larger than the grid, say) is discarded, so every example is a valid model.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume
from hypothesis import strategies as st

from lstm2d.spec import (
    GRU,
    LSTM,
    BatchNorm,
    Bidirectional,
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    Dense,
    Dropout,
    Flatten,
    GlobalPool2D,
    InputSpec,
    Layer,
    ModelSpec,
    Pool2D,
    SimpleRNN,
    SpecError,
)

ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "elu", "gelu", "silu", "hard_sigmoid", "softsign")
RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid", "tanh")
paddings = st.sampled_from(("valid", "same"))
small = st.integers(1, 3)


@st.composite
def conv2d(draw: st.DrawFn) -> Conv2D:
    strides = draw(st.sampled_from(((1, 1), (2, 1), (2, 2))))
    dilation = (1, 1) if strides != (1, 1) else draw(st.sampled_from(((1, 1), (2, 1))))
    return Conv2D(
        draw(small), (draw(small), draw(small)), strides=strides, padding=draw(paddings), dilation_rate=dilation,
        activation=draw(st.sampled_from(ACTIVATIONS)), use_bias=draw(st.booleans()),
    )  # fmt: skip


@st.composite
def pool2d(draw: st.DrawFn) -> Pool2D:
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = draw(st.sampled_from((None, (1, 1), (2, 1))))
    return Pool2D(draw(st.sampled_from(("max", "avg"))), size, strides=strides, padding=draw(paddings))


@st.composite
def recurrent(draw: st.DrawFn, return_sequences: bool) -> Layer:
    kind = draw(st.sampled_from((LSTM, GRU, SimpleRNN)))
    options = {
        "units": draw(small),
        "return_sequences": return_sequences,
        "use_bias": draw(st.booleans()),
        "activation": draw(st.sampled_from(("tanh", "tanh", "relu", "elu"))),
    }
    if kind is not SimpleRNN:
        options["recurrent_activation"] = draw(st.sampled_from(RECURRENT_ACTIVATIONS))
    if kind is GRU:
        options["reset_after"] = draw(st.booleans())
    if draw(st.booleans()):
        return Bidirectional(kind(**options), merge_mode=draw(st.sampled_from(("concat", "sum", "mul", "ave"))))
    return kind(**options, go_backwards=draw(st.booleans()))


@st.composite
def cnn_recurrent_spec(draw: st.DrawFn) -> ModelSpec:
    inp = InputSpec.frames(draw(st.integers(1, 4)), draw(st.integers(3, 7)), draw(st.integers(3, 7)), draw(st.integers(1, 3)))
    frame_layers = draw(st.lists(st.one_of(conv2d(), pool2d(), st.builds(BatchNorm, per_timestep=st.booleans())), max_size=2))
    to_sequence = draw(st.sampled_from((Flatten(), GlobalPool2D("avg"), GlobalPool2D("max"))))
    middle = draw(
        st.lists(
            st.one_of(st.builds(Dense, small, st.sampled_from(ACTIVATIONS)), st.just(Dropout(0.2)), st.builds(BatchNorm)),
            max_size=1,
        )
    )
    recurrent_count = draw(st.integers(1, 2))
    last_returns_sequences = draw(st.booleans())
    recurrent_layers = [draw(recurrent(i < recurrent_count - 1 or last_returns_sequences)) for i in range(recurrent_count)]
    head = draw(st.lists(st.builds(Dense, small, st.sampled_from((*ACTIVATIONS, "softmax"))), min_size=0, max_size=2))
    return _valid(inp, (*frame_layers, to_sequence, *middle, *recurrent_layers, *head))


@st.composite
def conv_lstm_spec(draw: st.DrawFn) -> ModelSpec:
    inp = InputSpec.frames(draw(st.integers(1, 4)), draw(st.integers(3, 6)), draw(st.integers(3, 6)), draw(st.integers(1, 2)))
    layers: list[Layer] = []
    for _ in range(draw(st.integers(1, 2))):
        layers.append(
            ConvLSTM2D(
                draw(small), (draw(small), draw(small)), padding=draw(paddings), return_sequences=True,
                go_backwards=draw(st.booleans()), activation=draw(st.sampled_from(("tanh", "relu"))),
                recurrent_activation=draw(st.sampled_from(RECURRENT_ACTIVATIONS)), use_bias=draw(st.booleans()),
            )
        )  # fmt: skip
        if draw(st.booleans()):
            layers.append(BatchNorm(per_timestep=draw(st.booleans())))
    ending = draw(st.sampled_from(("conv3d", "last-state", "flatten")))
    if ending == "conv3d":
        layers.append(Conv3D(draw(small), (draw(small), draw(small), draw(small)), padding="same"))
    elif ending == "last-state":
        last = layers[-1] if isinstance(layers[-1], ConvLSTM2D) else layers[-2]
        layers[layers.index(last)] = replace(last, return_sequences=False)
        layers.append(Conv2D(draw(small), 1, activation="sigmoid"))
    else:
        layers += [Flatten(), draw(recurrent(False)), Dense(1)]
    return _valid(inp, tuple(layers))


def specs() -> st.SearchStrategy[ModelSpec]:
    """Any valid spec of either family."""
    return st.one_of(cnn_recurrent_spec(), conv_lstm_spec())


def _valid(inp: InputSpec, layers: tuple[Layer, ...]) -> ModelSpec:
    try:
        return ModelSpec(inp, layers, name="drawn")
    except SpecError:
        assume(False)
        raise  # unreachable: assume(False) raises
