"""What every layer kind is: a frozen dataclass registered under its ``kind``, with its traits as class attributes,
its shape inference, and its Keras form both ways (the config Keras writes for it, and how to read one back).

A kind is defined once, in one family module of ``lstm2d.spec.layers``; subclassing :class:`Layer` with a
``kind`` registers it in :data:`LAYER_KINDS` (by JSON tag) and :data:`KERAS_CLASSES` (by the Keras classes it
reads). Every other package keys its own registry by the same ``kind``; a test per registry checks that it
covers every kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from lstm2d.spec.checks import ACTIVATIONS, UNSUPPORTED_ACTIVATIONS
from lstm2d.spec.shapes import Shape, SpecError, describe_shape

KerasConfig = dict[str, Any]
"""A Keras layer as data: ``{"class_name": ..., "config": {constructor arguments}}`` (a wrapper's inner layer under
``config["layer"]``)."""

LAYER_KINDS: dict[str, type[Layer]] = {}
"""Every layer kind by its JSON tag (``"conv2d"``, ``"lstm"``, ...)."""
KERAS_CLASSES: dict[str, type[Layer]] = {}
"""The kind that reads each Keras class lstm2d converts (``"MaxPooling2D"`` and ``"AveragePooling2D"`` -> Pool2D)."""


class Layer:
    """A layer kind. Subclasses are frozen dataclasses whose last field is ``name`` (empty: assigned by the model).

    Traits (class attributes), the one answer in the code to each question about a kind:

    - ``item_rank``: the per-sample rank the Keras layer reads; given a tensor of one more axis, the layer runs
      on every step of it (Keras ``TimeDistributed``, which the Keras side adds; torch folds time into the batch).
    - ``passes_mask``: a Keras mask flows through it unchanged (to a recurrent layer further on); ``uses_mask``: it
      reads the mask (recurrent layers, which skip masked steps); :meth:`keeps_mask` says whether its output has one;
      :meth:`takes_mask` whether it reads one on inputs of given shapes (default: ``uses_mask``). ``drops_mask``: Keras'
      layer does not support masking, so a mask reaching it is dropped (Keras warns) and it computes on every step,
      padding included; its output has no mask (Conv1D after a Masking layer).
    - ``step_invariant``: on a sequence it computes what ``TimeDistributed`` of it computes (Dense on the last axis,
      element-wise layers), so a file's TimeDistributed around it is dropped on reading.
    - ``keeps_feature_order``: element-wise or per-feature, so a flatten's feature order passes through it.
    - ``spatial``: its Keras form carries the model's ``data_format``.
    - ``min_inputs`` / ``max_inputs``: how many tensors it is called on (merges: a list of two or more).
    """

    kind: ClassVar[str]
    keras_classes: ClassVar[tuple[str, ...]] = ()
    item_rank: ClassVar[int | None] = None
    passes_mask: ClassVar[bool] = False
    uses_mask: ClassVar[bool] = False
    drops_mask: ClassVar[bool] = False
    step_invariant: ClassVar[bool] = False
    keeps_feature_order: ClassVar[bool] = False
    spatial: ClassVar[bool] = False
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    omitted_defaults: ClassVar[tuple[str, ...]] = ()
    """Fields left out of the JSON while they hold their default, so older readers still read the spec."""
    __dataclass_fields__: ClassVar[dict[str, Any]]  # every kind is a dataclass
    name: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind is None:
            return  # a shared base (recurrent options, merges), not a kind
        if kind in LAYER_KINDS:
            raise TypeError(f"layer kind {kind!r} is defined twice: {LAYER_KINDS[kind].__name__} and {cls.__name__}")
        LAYER_KINDS[kind] = cls
        for keras_class in cls.keras_classes:
            KERAS_CLASSES[keras_class] = cls

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name or '(unnamed)'}"

    # -- shapes ----------------------------------------------------------------------------------

    def output_shapes(self, inputs: tuple[Shape, ...]) -> tuple[Shape, ...]:
        """The per-sample shape of every output, given every input's (the model checks the number of inputs)."""
        return (self.output_shape(inputs[0]),)

    def output_shape(self, shape: Shape) -> Shape:  # pragma: no cover - single-input kinds override it
        raise NotImplementedError

    def runs_per_frame(self, shape: Shape) -> bool:
        """Whether, given ``shape``, the layer runs on every step of it (its Keras form is wrapped in TimeDistributed)."""
        return self.item_rank is not None and shape.rank == self.item_rank + 1

    def mask_flows(self, inputs: tuple[Shape, ...]) -> bool:
        """Whether a mask on inputs of these shapes reaches the output unchanged (default: ``passes_mask``)."""
        return self.passes_mask

    def takes_mask(self, inputs: tuple[Shape, ...]) -> bool:
        """Whether the layer reads a mask given with inputs of these shapes (default: ``uses_mask``)."""
        return self.uses_mask

    def keeps_mask(self) -> bool:
        """Whether the output carries the mask the layer saw (recurrent layers: only with return_sequences)."""
        return self.passes_mask

    def sublayers(self) -> tuple[Layer, ...]:
        """Layers this one wraps (Bidirectional's recurrent layer, TimeDistributed's layer)."""
        return ()

    def check_data_format(self, model_format: str, inputs: tuple[Shape, ...] = ()) -> None:
        """Refuse, naming the layer, what Keras cannot run consistently in a model of ``model_format`` frames (given
        the shapes of a call's inputs, where they matter)."""

    def refuse(self, shape: Shape, expected: str, hint: str = "") -> SpecError:
        return SpecError(f"{self.label} expects {expected}, got {describe_shape(shape)}" + (f"; {hint}" if hint else ""))

    # -- reading -----------------------------------------------------------------------------------

    def describe(self) -> str:
        """A short readable form for tables: ``Conv2D(32, 3x3, relu)``, ``MaxPool(2x2)``, ``LSTM(64)``."""
        return type(self).__name__

    def activations(self) -> tuple[str, ...]:
        """Every activation this layer (and what it wraps) applies."""
        own = tuple(getattr(self, f.name) for f in fields(self) if f.name.endswith("activation"))
        return own + tuple(a for inner in self.sublayers() for a in inner.activations())

    # -- Keras form ---------------------------------------------------------------------------------

    def keras_config(self, context: EncodeContext) -> KerasConfig:  # pragma: no cover - every kind overrides it
        """The Keras layer this is, unwrapped (the model adds TimeDistributed where it runs per frame)."""
        raise NotImplementedError

    @classmethod
    def from_keras(cls, class_name: str, config: Mapping[str, Any], context: DecodeContext) -> Layer | None:
        """The layer a Keras config describes, or ``None`` with the reasons added to ``context.problems``."""
        raise NotImplementedError  # pragma: no cover - every kind that lists keras_classes overrides it


def keras_config(class_name: str, **arguments: Any) -> KerasConfig:
    return {"class_name": class_name, "config": arguments}


@dataclass(frozen=True)
class EncodeContext:
    """What a layer's Keras form depends on besides the layer: the name Keras gives it, the model's frame layout,
    and the per-sample shape the Keras layer sees (a step of it, inside TimeDistributed)."""

    name: str
    data_format: str
    shape: Shape
    encode: Callable[[Layer, str, Shape], KerasConfig]
    """The Keras form of a wrapped layer: ``encode(layer, name, shape)``."""


@dataclass
class DecodeContext:
    """What reading one Keras layer config needs: the model's frame layout (and which layer set it), whether the
    file is Keras 2's, the per-sample shape the layer sees (``None`` after a layer that could not be read), the
    spec name it gets, and where to report what cannot be converted."""

    name: str
    data_format: str = "channels_last"
    data_format_source: str | None = None
    legacy: bool = False
    shape: Shape | None = None
    wrapped: bool = False
    """Inside TimeDistributed: ``shape`` is then one step of the tensor the wrapper receives."""
    problems: list[str] = field(default_factory=list)
    decode: Callable[[Mapping[str, Any], str], Layer | None] | None = None
    """Reads a wrapped layer's config (Bidirectional's): ``decode(raw, name)``."""

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def expect(self, config: Mapping[str, Any], **implemented: Any) -> None:
        """Report every setting that differs from what lstm2d implements (a missing one is Keras' default)."""
        for key, value in implemented.items():
            if key not in config:
                continue
            got = config[key]
            if got == value or (isinstance(value, tuple) and as_tuple(got) == value):
                continue
            self.problem(f"{key}={got!r} is not supported (lstm2d implements {key}={value!r})")

    def activation(self, config: Mapping[str, Any], key: str, default: str) -> str:
        """The activation named at ``key``; Keras 2 files' ``hard_sigmoid`` is Keras 2's formula."""
        name = config.get(key, default)
        if name == "hard_sigmoid" and self.legacy:
            return "hard_sigmoid_keras2"  # same name, Keras 2's formula: clip(0.2 x + 0.5, 0, 1)
        if isinstance(name, str) and name in UNSUPPORTED_ACTIVATIONS:
            self.problem(f"{key} {name!r} is not supported: {UNSUPPORTED_ACTIVATIONS[name]}")
            return default
        if name not in ACTIVATIONS:
            self.problem(f"{key} {name!r} is not supported (supported: {', '.join(ACTIVATIONS)})")
            return default
        return str(name)

    def expect_data_format(self, config: Mapping[str, Any]) -> None:
        """A spatial layer must say the model's data format (missing is Keras' default, channels_last)."""
        found = data_format_of(config)
        if found != self.data_format:
            source = f"set by layer {self.data_format_source!r}" if self.data_format_source else "Keras' default"
            self.problem(
                f"data_format={found!r} differs from the model's {self.data_format!r} ({source}); lstm2d reads models "
                "whose spatial layers all share one data_format"
            )


def data_format_of(config: Mapping[str, Any]) -> Any:
    """A layer config's ``data_format``; missing (or null) is Keras' default, channels_last."""
    value = config.get("data_format")
    return "channels_last" if value is None else value


def as_tuple(value: Any) -> Any:
    """JSON lists as tuples (Keras writes kernel sizes, strides and shapes as lists)."""
    return tuple(value) if isinstance(value, list) else value
