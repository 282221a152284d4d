"""Each spec layer as the Keras layer it is: class name and constructor arguments, as plain data.

One table serves both places that speak Keras: ``keras_ref.build_model`` constructs the layers from
it, and ``torch_impl``'s ``.keras`` writer serialises it into ``config.json`` (no Keras import there).
The inverse, reading a Keras config back into a spec, is ``torch_impl.files.keras_config``.

A config is ``{"class_name": ..., "config": {constructor arguments}}``; a ``TimeDistributed`` or
``Bidirectional`` wrapper holds the wrapped layer's config under ``config["layer"]``.
"""

from __future__ import annotations

from typing import Any

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
    Frames,
    GlobalPool2D,
    Grid,
    Layer,
    Masking,
    Pool2D,
    Shape,
    SimpleRNN,
)

KerasConfig = dict[str, Any]
PER_FRAME = (Conv2D, Pool2D, GlobalPool2D, Flatten)
"""2D layers that Keras must wrap in ``TimeDistributed`` to run on every frame of a sequence."""


def keras_layer_config(layer: Layer, shape: Shape, data_format: str = "channels_last") -> KerasConfig:
    """The Keras layer for ``layer`` receiving per-sample ``shape``, named like the spec layer, in a model whose
    frames are ``data_format`` (the spec's): every spatial layer says it, BatchNormalization's axis follows it.

    A 2D layer on frames, and a ``BatchNorm`` with ``per_timestep=True``, become
    ``TimeDistributed(<layer named <name>_inner>)`` named ``<name>``.
    """
    per_frame = isinstance(layer, PER_FRAME) and isinstance(shape, Frames)
    wrapped = per_frame or (isinstance(layer, BatchNorm) and layer.per_timestep)
    rank = len(shape.dims) + 1 - wrapped  # of the tensor the Keras layer sees: batch included, time dropped if wrapped
    channel_axis = batch_norm_axis(shape, rank, data_format)
    if wrapped:
        return _config("TimeDistributed", name=layer.name, layer=_plain(layer, f"{layer.name}_inner", data_format, channel_axis))
    return _plain(layer, layer.name, data_format, channel_axis)


def batch_norm_axis(shape: Shape, rank: int, data_format: str) -> int:
    """The axis a Keras BatchNormalization normalises, seeing a tensor of ``rank`` (batch included) of per-sample
    ``shape``: the channels of frames and grids (axis ``rank - 3`` when channels_first), else the last axis (-1)."""
    if data_format == "channels_first" and isinstance(shape, (Frames, Grid)):
        return rank - 3
    return -1


def _config(class_name: str, **arguments: Any) -> KerasConfig:
    return {"class_name": class_name, "config": arguments}


def _plain(layer: Layer, name: str, data_format: str, channel_axis: int) -> KerasConfig:
    if isinstance(layer, (Conv2D, Conv3D)):
        return _config(
            type(layer).__name__, name=name, filters=layer.filters, kernel_size=list(layer.kernel_size),
            strides=list(layer.strides), padding=layer.padding, data_format=data_format,
            dilation_rate=list(layer.dilation_rate), activation=layer.activation, use_bias=layer.use_bias,
        )  # fmt: skip
    if isinstance(layer, Pool2D):
        return _config(
            "MaxPooling2D" if layer.mode == "max" else "AveragePooling2D", name=name, pool_size=list(layer.pool_size),
            strides=list(layer.window_strides), padding=layer.padding, data_format=data_format,
        )  # fmt: skip
    if isinstance(layer, GlobalPool2D):
        class_name = "GlobalAveragePooling2D" if layer.mode == "avg" else "GlobalMaxPooling2D"
        return _config(class_name, name=name, data_format=data_format)
    if isinstance(layer, Flatten):
        return _config("Flatten", name=name, data_format=layer.data_format)
    if isinstance(layer, BatchNorm):
        return _config(
            "BatchNormalization", name=name, axis=channel_axis, epsilon=layer.epsilon,
            momentum=layer.momentum, center=layer.center, scale=layer.scale,
        )  # fmt: skip
    if isinstance(layer, Dropout):
        return _config("Dropout", name=name, rate=layer.rate)
    if isinstance(layer, Activation):
        return _config("Activation", name=name, activation=layer.activation)
    if isinstance(layer, Masking):
        return _config("Masking", name=name, mask_value=layer.mask_value)
    if isinstance(layer, Dense):
        return _config("Dense", name=name, units=layer.units, activation=layer.activation, use_bias=layer.use_bias)
    if isinstance(layer, (LSTM, GRU, SimpleRNN)):
        return _recurrent(layer, name)
    if isinstance(layer, Bidirectional):
        return _config("Bidirectional", name=name, layer=_recurrent(layer.layer, f"{name}_inner"), merge_mode=layer.merge_mode)
    if isinstance(layer, ConvLSTM2D):
        return _config(
            "ConvLSTM2D", name=name, filters=layer.filters, kernel_size=list(layer.kernel_size), strides=list(layer.strides),
            padding=layer.padding, data_format=data_format, dilation_rate=list(layer.dilation_rate), activation=layer.activation,
            recurrent_activation=layer.recurrent_activation, use_bias=layer.use_bias,
            unit_forget_bias=layer.unit_forget_bias, return_sequences=layer.return_sequences,
            go_backwards=layer.go_backwards, dropout=layer.dropout, recurrent_dropout=layer.recurrent_dropout,
        )  # fmt: skip
    raise TypeError(f"no Keras layer for {layer!r}")


def _recurrent(layer: LSTM | GRU | SimpleRNN, name: str) -> KerasConfig:
    arguments: dict[str, Any] = {
        "name": name, "units": layer.units, "activation": layer.activation, "use_bias": layer.use_bias,
        "dropout": layer.dropout, "recurrent_dropout": layer.recurrent_dropout,
        "return_sequences": layer.return_sequences, "go_backwards": layer.go_backwards,
    }  # fmt: skip
    if isinstance(layer, LSTM):
        return _config(
            "LSTM", **arguments, recurrent_activation=layer.recurrent_activation, unit_forget_bias=layer.unit_forget_bias
        )
    if isinstance(layer, GRU):
        return _config("GRU", **arguments, recurrent_activation=layer.recurrent_activation, reset_after=layer.reset_after)
    return _config("SimpleRNN", **arguments)


def activations_in(config: KerasConfig) -> list[str]:
    """Every activation name a config (and the layer it wraps) uses."""
    arguments = config["config"]
    names = [arguments[key] for key in ("activation", "recurrent_activation") if key in arguments]
    return names + (activations_in(arguments["layer"]) if "layer" in arguments else [])
