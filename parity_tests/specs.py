"""The specs the parity tests run over.

``PARITY_SPECS``: the presets plus the CNN-LSTM shapes where layout and padding bugs hide.
``LAYER_SPECS``: one small model per layer kind and setting Keras users write around a CNN-LSTM,
chosen so each setting changes the numbers (C > 1 and H != W at flattens, non-default activations,
both GRU conventions, every Bidirectional merge, go_backwards, BatchNorm after a flatten, ...).
``CHANNELS_FIRST_SPECS`` (part of ``LAYER_SPECS``): Keras models of channels_first frames, both flatten orders.
``MASKED_SPECS``: models whose recurrent layers see a Masking layer's mask.
``TRAJECTORY_SPECS``: models trained 50 steps in both frameworks (no dropout: its random masks cannot match).
"""

from __future__ import annotations

import numpy as np

from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import (
    GRU,
    LSTM,
    Activation,
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
    Masking,
    ModelSpec,
    Pool2D,
    RepeatVector,
    SimpleRNN,
)

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
