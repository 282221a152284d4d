"""Recurrent layers: Keras ``LSTM``, ``GRU``, ``SimpleRNN``, ``Bidirectional`` and ``ConvLSTM2D`` (and what ``ConvLSTM1D``
shares with it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lstm2d.spec import checks
from lstm2d.spec.base import DecodeContext, EncodeContext, KerasConfig, Layer, keras_config
from lstm2d.spec.layers.conv import check_window_options, conv_output_grid, decode_window, describe_window
from lstm2d.spec.shapes import Padding, Shape

MERGE_MODES: tuple[str | None, ...] = ("concat", "sum", "mul", "ave", None)
COMPUTATION_KEYS = (
    "units", "activation", "recurrent_activation", "use_bias", "return_sequences", "go_backwards", "reset_after",
    "dropout", "recurrent_dropout", "stateful", "return_state",
)  # fmt: skip
"""The recurrent-layer settings that change what it computes (initializers, regularizers and names do not)."""


@dataclass(frozen=True)
class Recurrent(Layer):
    """Options shared by the recurrent layers (Keras names and defaults)."""

    uses_mask: ClassVar[bool] = True
    gates: ClassVar[int]
    units: int
    return_sequences: bool = False
    go_backwards: bool = False
    activation: str = "tanh"
    use_bias: bool = True
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        checks.positive(self.units, f"{self.label} units")
        for attribute in ("return_sequences", "go_backwards", "use_bias"):
            checks.boolean(getattr(self, attribute), f"{self.label} {attribute}")
        object.__setattr__(self, "activation", checks.activation(self.activation, f"{self.label} activation"))
        checks.rate(self.dropout, f"{self.label} dropout")
        checks.rate(self.recurrent_dropout, f"{self.label} recurrent_dropout")
        checks.identifier(self.name)

    def keeps_mask(self) -> bool:
        return self.return_sequences

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != 2:
            hint = (
                "flatten each frame first (Flatten); in Keras, an LSTM after a Conv2D without "
                "TimeDistributed(Flatten()) fails with 'expected ndim=3, found ndim=2'"
                if shape.rank > 2
                else "the previous recurrent layer must return sequences (return_sequences=True); if a Flatten or Reshape "
                "outside TimeDistributed flattened the time axis away, wrap the per-frame layers in TimeDistributed"
            )
            raise self.refuse(shape, "a sequence (time, features)", hint)
        return Shape((shape.time, self.units)) if self.return_sequences else Shape((self.units,))

    def describe(self) -> str:
        return f"{type(self).__name__}({self.units}{', sequences' if self.return_sequences else ''})"

    def _keras_arguments(self, name: str) -> dict[str, Any]:
        return {
            "name": name, "units": self.units, "activation": self.activation, "use_bias": self.use_bias,
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences, "go_backwards": self.go_backwards,
        }  # fmt: skip

    @staticmethod
    def _decode_options(config: Mapping[str, Any], context: DecodeContext) -> dict[str, Any]:
        context.expect(config, stateful=False, return_state=False, time_major=False)
        return {
            "units": config.get("units"), "return_sequences": config.get("return_sequences", False),
            "go_backwards": config.get("go_backwards", False), "activation": context.activation(config, "activation", "tanh"),
            "use_bias": config.get("use_bias", True), "dropout": config.get("dropout", 0.0),
            "recurrent_dropout": config.get("recurrent_dropout", 0.0), "name": context.name,
        }  # fmt: skip


@dataclass(frozen=True)
class Gated(Recurrent):
    """A recurrent layer with gates, which use ``recurrent_activation`` (LSTM, GRU)."""

    recurrent_activation: str = "sigmoid"

    def __post_init__(self) -> None:
        super().__post_init__()
        what = f"{self.label} recurrent_activation"
        object.__setattr__(self, "recurrent_activation", checks.activation(self.recurrent_activation, what))


@dataclass(frozen=True)
class LSTM(Gated):
    """Keras ``LSTM``: gates i, f, c, o; one bias. Non-default activations run on lstm2d's exact (slower) cell.

    ``unit_forget_bias`` only changes the initial weights (a forget-gate bias of 1), as in Keras.
    """

    kind: ClassVar[str] = "lstm"
    keras_classes: ClassVar[tuple[str, ...]] = ("LSTM",)
    gates: ClassVar[int] = 4
    unit_forget_bias: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        checks.boolean(self.unit_forget_bias, f"{self.label} unit_forget_bias")

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "LSTM", **self._keras_arguments(context.name), recurrent_activation=self.recurrent_activation,
            unit_forget_bias=self.unit_forget_bias,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(
            **cls._decode_options(config, context),
            recurrent_activation=context.activation(config, "recurrent_activation", "sigmoid"),
            unit_forget_bias=config.get("unit_forget_bias", True),
        )


@dataclass(frozen=True)
class GRU(Gated):
    """Keras ``GRU``: gates z, r, h. ``reset_after=True`` (Keras 3's default) has an input and a recurrent bias
    and is torch's ``nn.GRU``; ``reset_after=False`` (Keras 2's default) applies the reset gate before the
    recurrent matmul and has one bias: lstm2d runs it on an exact cell of its own."""

    kind: ClassVar[str] = "gru"
    keras_classes: ClassVar[tuple[str, ...]] = ("GRU",)
    gates: ClassVar[int] = 3
    reset_after: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        checks.boolean(self.reset_after, f"{self.label} reset_after")

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            "GRU", **self._keras_arguments(context.name), recurrent_activation=self.recurrent_activation,
            reset_after=self.reset_after,
        )  # fmt: skip

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(
            **cls._decode_options(config, context),
            recurrent_activation=context.activation(config, "recurrent_activation", "sigmoid"),
            reset_after=config.get("reset_after", True),
        )


@dataclass(frozen=True)
class SimpleRNN(Recurrent):
    """Keras ``SimpleRNN``: ``h = activation(x W + h U + b)``; ``nn.RNN`` for tanh and relu."""

    kind: ClassVar[str] = "simple_rnn"
    keras_classes: ClassVar[tuple[str, ...]] = ("SimpleRNN",)
    gates: ClassVar[int] = 1

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config("SimpleRNN", **self._keras_arguments(context.name))

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        return cls(**cls._decode_options(config, context))


RecurrentLayer = LSTM | GRU | SimpleRNN
RECURRENT_KINDS: dict[str, type[Layer]] = {cls.kind: cls for cls in (LSTM, GRU, SimpleRNN)}


@dataclass(frozen=True)
class Bidirectional(Layer):
    """Keras ``Bidirectional``: the layer forwards and a copy backwards, the backward output flipped back to
    forward time, then merged (``concat``, ``sum``, ``mul``, ``ave``; ``None``: two outputs).

    The wrapped layer's ``return_sequences`` decides the output; its own name is not used (Keras names
    the directions ``forward_<name>`` / ``backward_<name>``).
    """

    kind: ClassVar[str] = "bidirectional"
    keras_classes: ClassVar[tuple[str, ...]] = ("Bidirectional",)
    uses_mask: ClassVar[bool] = True
    layer: RecurrentLayer
    merge_mode: str | None = "concat"
    name: str = ""

    def __post_init__(self) -> None:
        from lstm2d.spec.serialize import layer_from_dict  # a wrapped layer given as JSON (imports the kinds)

        if isinstance(self.layer, Mapping):
            object.__setattr__(self, "layer", layer_from_dict(self.layer, f"{self.label} layer", RECURRENT_KINDS))
        if not isinstance(self.layer, (LSTM, GRU, SimpleRNN)):
            raise checks.SpecError(f"{self.label} layer: expected an LSTM, GRU or SimpleRNN, got {self.layer!r}")
        if self.layer.go_backwards:
            raise checks.SpecError(f"{self.label}: the wrapped layer must not go backwards (the wrapper runs both directions)")
        checks.choice(self.merge_mode, MERGE_MODES, f"{self.label} merge_mode")
        checks.identifier(self.name)

    @property
    def return_sequences(self) -> bool:
        return self.layer.return_sequences

    def keeps_mask(self) -> bool:
        return self.return_sequences

    def sublayers(self) -> tuple[Layer, ...]:
        return (self.layer,)

    def output_shapes(self, inputs: tuple[Shape, ...]) -> tuple[Shape, ...]:
        single = self.layer.output_shape(inputs[0])
        if self.merge_mode is None:
            return (single, single)
        if self.merge_mode != "concat":
            return (single,)
        return (Shape((*single.dims[:-1], 2 * single.features)),)

    def describe(self) -> str:
        return f"Bidirectional({self.layer.describe()}, {self.merge_mode})"

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        inner = context.encode(self.layer, f"{context.name}_inner", context.shape)
        return keras_config("Bidirectional", name=context.name, layer=inner, merge_mode=self.merge_mode)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer | None:
        raw = config.get("layer")
        inner_config = raw.get("config") if isinstance(raw, Mapping) else None
        inner = raw.get("class_name") if isinstance(raw, Mapping) else None
        if inner not in RECURRENT_CLASSES or not isinstance(inner_config, Mapping) or context.decode is None:
            context.problem(f"Bidirectional({inner}) is not supported (LSTM, GRU or SimpleRNN only)")
            return None
        backward = config.get("backward_layer")
        if isinstance(backward, Mapping):  # Keras saves it; it must compute the forward layer's function, reversed
            expected = {**inner_config, "go_backwards": not inner_config.get("go_backwards", False)}
            backward_config = backward.get("config")
            backward_config = backward_config if isinstance(backward_config, Mapping) else {}
            differing = [k for k in COMPUTATION_KEYS if backward_config.get(k) != expected.get(k)]
            if backward.get("class_name") != inner or differing:
                context.problem(f"a backward_layer other than the forward layer reversed (differs in {differing})")
                return None
        assert isinstance(raw, Mapping)  # inner_config came from it
        wrapped = context.decode(raw, "")
        if not isinstance(wrapped, (LSTM, GRU, SimpleRNN)):  # None: its problems are recorded
            return None
        return cls(wrapped, config.get("merge_mode", "concat"), context.name)


RECURRENT_CLASSES = ("LSTM", "GRU", "SimpleRNN")


@dataclass(frozen=True)
class ConvLSTM(Layer):
    """What Keras' ``ConvLSTM1D`` and ``ConvLSTM2D`` share: an LSTM whose matmuls are convolutions over the ``rank``
    spatial axes of each step, so the state keeps them.

    Gates i, f, c, o; the input convolution uses the layer's kernel, strides, padding and dilation;
    the recurrent one is always ``same``, stride 1, no bias. A sequence of steps ``(time, *spatial, channels)``
    in; the same with ``return_sequences``, else the last state ``(*spatial, filters)``.
    """

    rank: ClassVar[int]
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = (1,)
    padding: Padding = "valid"
    dilation_rate: tuple[int, ...] = (1,)
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    unit_forget_bias: bool = True
    return_sequences: bool = False
    go_backwards: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        checks.positive(self.filters, f"{self.label} filters")
        check_window_options(self, self.rank)
        object.__setattr__(self, "activation", checks.activation(self.activation, f"{self.label} activation"))
        what = f"{self.label} recurrent_activation"
        object.__setattr__(self, "recurrent_activation", checks.activation(self.recurrent_activation, what))
        for attribute in ("use_bias", "unit_forget_bias", "return_sequences", "go_backwards"):
            checks.boolean(getattr(self, attribute), f"{self.label} {attribute}")
        checks.rate(self.dropout, f"{self.label} dropout")
        checks.rate(self.recurrent_dropout, f"{self.label} recurrent_dropout")
        checks.identifier(self.name)

    def output_step(self, step: Shape) -> Shape:  # pragma: no cover - every kind overrides it
        """The state ``(*spatial, filters)`` of a step ``(*spatial, channels)``."""
        raise NotImplementedError

    def output_shape(self, shape: Shape) -> Shape:
        if shape.rank != self.rank + 2:
            steps = "frames (time, height, width, channels)" if self.rank == 2 else "1D signals (time, length, channels)"
            raise self.refuse(shape, steps)
        state = self.output_step(shape.item)
        return Shape((shape.time, *state.dims)) if self.return_sequences else state

    def describe(self) -> str:
        return describe_window(self)

    def keras_config(self, context: EncodeContext) -> KerasConfig:
        return keras_config(
            self.keras_classes[0], name=context.name, filters=self.filters, kernel_size=list(self.kernel_size),
            strides=list(self.strides), padding=self.padding,
            data_format=context.data_format if self.spatial else "channels_last",
            dilation_rate=list(self.dilation_rate), activation=self.activation,
            recurrent_activation=self.recurrent_activation, use_bias=self.use_bias,
            unit_forget_bias=self.unit_forget_bias, return_sequences=self.return_sequences,
            go_backwards=self.go_backwards, dropout=self.dropout, recurrent_dropout=self.recurrent_dropout,
        )  # fmt: skip

    @classmethod
    def expect_data_format(cls, config: Mapping[str, Any], context: DecodeContext) -> None:
        """The ``data_format`` a file's layer may have: the model's (a spatial kind's)."""
        context.expect_data_format(config)

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer:
        cls.expect_data_format(config, context)
        context.expect(config, stateful=False, return_state=False)
        return cls(
            config.get("filters"), **decode_window(config),  # type: ignore[arg-type]  # the file's value, None if missing: the layer refuses it, naming itself
            activation=context.activation(config, "activation", "tanh"),
            recurrent_activation=context.activation(config, "recurrent_activation", "sigmoid"),
            use_bias=config.get("use_bias", True), unit_forget_bias=config.get("unit_forget_bias", True),
            return_sequences=config.get("return_sequences", False), go_backwards=config.get("go_backwards", False),
            dropout=config.get("dropout", 0.0), recurrent_dropout=config.get("recurrent_dropout", 0.0), name=context.name,
        )  # fmt: skip


@dataclass(frozen=True)
class ConvLSTM2D(ConvLSTM):
    """Keras ``ConvLSTM2D``: the state stays a grid. Frames in; frames out with ``return_sequences``, else the last
    state as a grid."""

    kind: ClassVar[str] = "conv_lstm2d"
    keras_classes: ClassVar[tuple[str, ...]] = ("ConvLSTM2D",)
    spatial: ClassVar[bool] = True
    rank: ClassVar[int] = 2
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    dilation_rate: tuple[int, int] = (1, 1)

    def output_grid(self, grid: Shape) -> Shape:
        return conv_output_grid(self, grid)

    def output_step(self, step: Shape) -> Shape:
        return self.output_grid(step)


__all__ = [
    "GRU",
    "LSTM",
    "MERGE_MODES",
    "RECURRENT_KINDS",
    "Bidirectional",
    "ConvLSTM",
    "ConvLSTM2D",
    "Gated",
    "Recurrent",
    "RecurrentLayer",
    "SimpleRNN",
]
