"""Keras graph models as people write them, one small function each, for the real-file tests.

Each builder takes the Keras module it builds with, ``keras`` (Keras 3) or ``tf_keras`` (Keras 2, which saves legacy
``.h5``), and returns the model with random, seeded weights. Sizes are tiny except where a model is an article's
example as written. :data:`GRAPH_MODELS` lists every builder with the formats it can be saved in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

T, H, W, C = 4, 8, 7, 2  # timesteps and frame size of the frame models: H != W, C > 1


def article_example_1(k: Any) -> Any:
    """The article's example 1 exactly: 100 steps of 100 features, LSTM(64), Dense(1); no Input, input_shape=."""
    return k.Sequential([k.layers.LSTM(64, input_shape=(100, 100)), k.layers.Dense(1)])


def article_example_1_small(k: Any) -> Any:
    """Example 1 at test size, still without an Input (``input_shape=`` on the first layer)."""
    return k.Sequential([k.layers.LSTM(5, input_shape=(T, 6)), k.layers.Dense(1)])


def cnn_lstm_side_input(k: Any) -> Any:
    """A CNN-LSTM on frames, with a second input ``(T, 3)`` concatenated per timestep before the LSTM."""
    layers = k.layers
    frames = k.Input((T, H, W, C), name="frames")
    side = k.Input((T, 3), name="side")
    x = layers.TimeDistributed(layers.Conv2D(4, 3, activation="relu", padding="same"), name="conv")(frames)
    x = layers.TimeDistributed(layers.MaxPooling2D(2), name="pool")(x)
    x = layers.TimeDistributed(layers.Flatten(), name="flat")(x)
    x = layers.Concatenate(name="joined")([x, side])
    x = layers.LSTM(6, name="lstm")(x)
    return k.Model([frames, side], layers.Dense(2, name="out")(x), name="cnn_lstm_side")


def residual_frames(k: Any) -> Any:
    """Residual blocks on every frame: ``Add([x, conv(x)])`` on TimeDistributed convolutions, twice."""
    layers = k.layers
    frames = k.Input((T, H, W, C), name="frames")
    x = layers.TimeDistributed(layers.Conv2D(3, 3, padding="same", activation="relu"), name="stem")(frames)
    for i in range(2):
        y = layers.TimeDistributed(layers.Conv2D(3, 3, padding="same", activation="relu"), name=f"res{i}_conv")(x)
        x = layers.Add(name=f"res{i}_add")([x, y])
    x = layers.TimeDistributed(layers.Flatten(), name="flat")(x)
    x = layers.LSTM(5, name="lstm")(x)
    return k.Model(frames, layers.Dense(1, name="out")(x), name="residual_frames")


def td_sequential_cnn(k: Any) -> Any:
    """A per-frame backbone written as a Sequential, in TimeDistributed, then an LSTM."""
    layers = k.layers
    backbone = k.Sequential(
        [k.Input((H, W, C)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten()],
        name="backbone",
    )
    frames = k.Input((T, H, W, C), name="frames")
    x = layers.TimeDistributed(backbone, name="td")(frames)
    x = layers.LSTM(5, name="lstm")(x)
    return k.Model(frames, layers.Dense(2, name="out")(x), name="td_sequential_cnn")


def td_functional_cnn(k: Any) -> Any:
    """A per-frame Functional backbone (a residual block, a Dense) in TimeDistributed, then an LSTM; the outer model is
    a Sequential."""
    layers = k.layers
    image = k.Input((H, W, C), name="image")
    x = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv_a")(image)
    y = layers.Conv2D(3, 3, padding="same", name="conv_b")(x)
    x = layers.Add(name="skip")([x, y])
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    backbone = k.Model(image, layers.Dense(6, activation="relu", name="embed")(x), name="backbone")
    return k.Sequential(
        [k.Input((T, H, W, C)), layers.TimeDistributed(backbone, name="td"), layers.LSTM(5), layers.Dense(1)],
        name="td_functional_cnn",
    )


def nested_model_as_layer(k: Any) -> Any:
    """A Functional model called directly on a tensor of the outer model (no TimeDistributed), and a nested Sequential."""
    layers = k.layers
    steps = k.Input((T, 6), name="inner_in")
    encoder = k.Model(steps, layers.LSTM(5, return_sequences=True, name="enc")(steps), name="encoder")
    head = k.Sequential([k.Input((T, 5)), layers.LSTM(4, name="dec"), layers.Dense(2, name="head_out")], name="head")
    sequence = k.Input((T, 6), name="sequence")
    x = layers.Dense(6, activation="tanh", name="pre")(sequence)
    return k.Model(sequence, head(encoder(x)), name="nested_model_as_layer")


def shared_nested_model(k: Any) -> Any:
    """One Functional encoder (two branches) called on two inputs (shared weights); its calls' outputs are model
    outputs too."""
    layers = k.layers
    steps = k.Input((T, 6), name="steps")
    branches = [layers.LSTM(3, name="enc_lstm")(steps), layers.GRU(2, name="enc_gru")(steps)]
    encoder = k.Model(steps, layers.Concatenate(name="enc")(branches), name="encoder")
    left, right = k.Input((T, 6), name="left"), k.Input((T, 6), name="right")
    a, b = encoder(left), encoder(right)
    distance = layers.Dense(1, name="distance")(layers.Subtract(name="diff")([a, b]))
    return k.Model([left, right], [distance, a, b], name="shared_nested_model")


def deep_nested_backbone(k: Any) -> Any:
    """A Functional backbone holding a nested Sequential block (Conv2D, BatchNormalization) and a per-frame Dense, in
    TimeDistributed, inside a nested Functional encoder: models three deep."""
    layers = k.layers
    block = k.Sequential(
        [k.Input((H, W, C)), layers.Conv2D(3, 3, name="block_conv"), layers.BatchNormalization(name="block_bn")],
        name="block",
    )
    image = k.Input((H, W, C), name="image")
    x = layers.Flatten(name="flat")(layers.MaxPooling2D(2, name="pool")(block(image)))
    backbone = k.Model(image, layers.Dense(5, activation="relu", name="embed")(x), name="backbone")
    frames = k.Input((T, H, W, C), name="clip")
    encoder = k.Model(frames, layers.TimeDistributed(backbone, name="td")(frames), name="encoder")
    outer = k.Input((T, H, W, C), name="frames")
    x = layers.LSTM(4, name="lstm")(encoder(outer))
    return k.Model(outer, layers.Dense(2, name="out")(x), name="deep_nested_backbone")


def two_outputs(k: Any) -> Any:
    """Two outputs: a Dense head on every step of an LSTM's sequence, and one on its last state."""
    layers = k.layers
    sequence = k.Input((T, 6), name="sequence")
    seq = layers.LSTM(5, return_sequences=True, name="lstm")(sequence)
    per_step = layers.Dense(3, name="per_step")(seq)
    last = layers.GRU(4, name="gru")(seq)
    return k.Model(sequence, [per_step, layers.Dense(2, activation="softmax", name="last")(last)], name="two_outputs")


def gru_with_mask_input(k: Any) -> Any:
    """keras.io's video classification head: frame features and a boolean mask input passed as ``mask=``."""
    layers = k.layers
    features = k.Input((T, 6), name="features")
    mask = k.Input((T,), dtype="bool", name="mask")
    x = layers.GRU(5, return_sequences=True, name="gru1")(features, mask=mask)
    x = layers.GRU(4, name="gru2")(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(4, activation="relu")(x)
    return k.Model([features, mask], layers.Dense(3, activation="softmax", name="classes")(x), name="video_classifier")


def shared_layers(k: Any) -> Any:
    """One Dense and one LSTM, each called on two inputs (shared weights), their results concatenated."""
    layers = k.layers
    left, right = k.Input((T, 6), name="left"), k.Input((T, 6), name="right")
    project = layers.Dense(5, activation="tanh", name="project")
    encode = layers.LSTM(4, name="encode")
    joined = layers.Concatenate(name="joined")([encode(project(left)), encode(project(right))])
    return k.Model([left, right], layers.Dense(1, name="out")(joined), name="shared_layers")


def plain_lstm(k: Any) -> Any:
    sequence = k.Input((T, 6), name="sequence")
    x = k.layers.LSTM(5, return_sequences=True)(sequence)
    return k.Model(sequence, k.layers.Dense(2)(k.layers.LSTM(3)(x)), name="plain_lstm")


def plain_gru_open_time(k: Any) -> Any:
    """A GRU on sequences of any length, ``Input((None, F))``."""
    sequence = k.Input((None, 6), name="sequence")
    return k.Model(sequence, k.layers.Dense(2)(k.layers.GRU(5)(sequence)), name="plain_gru_open_time")


def lstm_open_time_sequential(k: Any) -> Any:
    return k.Sequential([k.Input((None, 6)), k.layers.LSTM(5, return_sequences=True), k.layers.Dense(1)])


def frames_reshaped(k: Any) -> Any:
    """Frames without a channel axis ``(T, 10, 10)``, reshaped to ``(T, 100)``."""
    layers = k.layers
    return k.Sequential([k.Input((T, 10, 10)), layers.Reshape((T, 100)), layers.LSTM(5), layers.Dense(1)])


def frames_td_flatten(k: Any) -> Any:
    """Frames without a channel axis ``(T, 10, 10)``, each flattened by TimeDistributed(Flatten)."""
    layers = k.layers
    frames = k.Input((T, 10, 10), name="frames")
    x = layers.TimeDistributed(layers.Flatten(), name="flat")(frames)
    return k.Model(frames, layers.Dense(1)(layers.LSTM(5)(x)), name="frames_td_flatten")


def masking_functional(k: Any) -> Any:
    """A Masking layer in a Functional graph (Keras 3 records NotEqual/Any ops for its mask)."""
    layers = k.layers
    sequence = k.Input((T, 6), name="sequence")
    x = layers.Masking(0.0, name="masking")(sequence)
    x = layers.LSTM(5, return_sequences=True, name="lstm")(x)
    return k.Model(sequence, layers.Dense(2, name="out")(layers.GRU(3, name="gru")(x)), name="masking_functional")


def global_average_pooling_1d(k: Any) -> Any:
    """An LSTM's sequences averaged over time (GlobalAveragePooling1D)."""
    sequence = k.Input((T, 6), name="sequence")
    x = k.layers.LSTM(5, return_sequences=True)(sequence)
    return k.Model(sequence, k.layers.Dense(1)(k.layers.GlobalAveragePooling1D(name="gap")(x)), name="gap1d")


def conv1d_masked_average(k: Any) -> Any:
    """A sensor series two ways: masked, an LSTM's sequences averaged over the real steps (Keras 3 records the Masking
    ops as the average's mask); a causal Conv1D front end (which drops a mask) with a global max; joined."""
    layers = k.layers
    sequence = k.Input((T + 2, 6), name="sequence")
    x = layers.Masking(0.0, name="masking")(sequence)
    x = layers.GlobalAveragePooling1D(name="gap")(layers.LSTM(5, return_sequences=True, name="lstm")(x))
    y = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu", name="conv")(sequence)
    y = layers.GlobalMaxPooling1D(name="gmp")(layers.MaxPooling1D(2, padding="same", name="pool")(y))
    return k.Model(sequence, layers.Dense(2, name="out")(layers.Concatenate(name="joined")([x, y])), name="conv1d_masked")


def signals_td_conv1d(k: Any) -> Any:
    """Sequences of 1D signals ``(T, L, C)``: Conv1D, pooling and global pooling on every step (TimeDistributed)."""
    layers = k.layers
    signals = k.Input((T, 9, C), name="signals")
    x = layers.TimeDistributed(layers.Conv1D(3, 4, strides=2, padding="same", activation="relu"), name="conv")(signals)
    x = layers.TimeDistributed(layers.MaxPooling1D(2), name="pool")(x)
    x = layers.TimeDistributed(layers.GlobalAveragePooling1D(), name="gap")(x)
    return k.Model(signals, layers.Dense(1, name="out")(layers.LSTM(4, name="lstm")(x)), name="signals_td_conv1d")


def adaptive_average_pooling_1d(k: Any) -> Any:
    """A Keras built-in lstm2d does not convert: AdaptiveAveragePooling1D (Keras 3 only)."""
    sequence = k.Input((T, 6), name="sequence")
    x = k.layers.AdaptiveAveragePooling1D(2, name="adaptive")(k.layers.LSTM(5, return_sequences=True)(sequence))
    return k.Model(sequence, k.layers.Dense(1)(k.layers.Flatten()(x)), name="adaptive1d")


def keras_ops_add(k: Any) -> Any:
    """An op on Keras tensors (``keras.ops.add``), which Keras 3 records as an op layer."""
    sequence = k.Input((T, 6), name="sequence")
    x = k.layers.Dense(6)(sequence)
    x = k.ops.add(x, sequence)
    return k.Model(sequence, k.layers.Dense(1)(k.layers.LSTM(5)(x)), name="ops_add")


@dataclass(frozen=True)
class GraphModel:
    """A builder and where it can be saved: ``.keras`` by Keras 3, legacy ``.h5`` by tf-keras."""

    build: Callable[[Any], Any]
    legacy_h5: bool = True
    masked: bool = False  # its inputs should have padded (all-zero) steps at the end, for a Masking layer

    @property
    def name(self) -> str:
        return self.build.__name__


GRAPH_MODELS = (
    GraphModel(article_example_1),
    GraphModel(article_example_1_small),
    GraphModel(cnn_lstm_side_input),
    GraphModel(residual_frames),
    GraphModel(td_sequential_cnn),
    GraphModel(td_functional_cnn),
    GraphModel(nested_model_as_layer),
    GraphModel(shared_nested_model),
    GraphModel(deep_nested_backbone),
    GraphModel(two_outputs),
    GraphModel(gru_with_mask_input),
    GraphModel(shared_layers),
    GraphModel(plain_lstm),
    GraphModel(plain_gru_open_time),
    GraphModel(lstm_open_time_sequential),
    GraphModel(frames_reshaped),
    GraphModel(frames_td_flatten),
    GraphModel(masking_functional, masked=True),
    GraphModel(global_average_pooling_1d),
    GraphModel(conv1d_masked_average, masked=True),
    GraphModel(signals_td_conv1d),
)
UNSUPPORTED_MODELS = (GraphModel(adaptive_average_pooling_1d, legacy_h5=False), GraphModel(keras_ops_add, legacy_h5=False))


def seeded_weights(model: Any, seed: int) -> Any:
    """``model`` with uniform(-0.5, 0.5) weights from ``seed`` (BatchNormalization's moving variances in 0.5..1);
    returns the model."""
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights([np.abs(w) + 0.5 if "variance" in v.name else w for w, v in zip(weights, model.weights, strict=True)])
    return model
