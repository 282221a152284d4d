"""The model description: presets, JSON, shape inference, padding arithmetic, validation messages, naming."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields, replace

import pytest

from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import (
    ACTIVATIONS,
    GRU,
    KERAS_CLASSES,
    LAYER_KINDS,
    LSTM,
    Activation,
    Add,
    BatchNorm,
    Bidirectional,
    Concatenate,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv3D,
    ConvLSTM1D,
    ConvLSTM2D,
    Cropping1D,
    DecodeContext,
    Dense,
    Flatten,
    Frames,
    GlobalPool1D,
    GlobalPool2D,
    Grid,
    InputSpec,
    Layer,
    Masking,
    Maximum,
    ModelSpec,
    Node,
    NodeShapes,
    Pool2D,
    Reshape,
    Shape,
    SimpleRNN,
    SpecError,
    Steps,
    Submodel,
    Vector,
    ZeroPadding1D,
    output_size,
    same_padding,
)
from lstm2d.spec.axes import negative_axes, sample_axes
from lstm2d.spec.keras_graph import layer_config, model_config
from lstm2d.spec.layers.activations import LeakyReLU, PReLU, ReLU, Softmax
from lstm2d.spec.layers.core import Permute
from lstm2d.spec.layers.normalization import GroupNorm, LayerNorm, Normalization, RMSNorm
from lstm2d.spec.layers.regularization import GaussianNoise
from tests.graph_models import (
    EVERY_GRAPH_KIND,
    EVERY_KIND,
    EVERY_SPATIAL_KIND,
    ONE_D_KINDS,
    SHAPE_NORM_CHANNELS_FIRST,
    SHAPE_NORM_KINDS,
    SPATIAL_CHANNELS_FIRST,
)
from torch_impl.files.keras_config import spec_from_config

FRAME = InputSpec.frames(timesteps=5, height=8, width=8, channels=1)


@pytest.mark.parametrize(
    "spec",
    [
        *(get_preset(name) for name in preset_names()),
        EVERY_KIND,
        EVERY_GRAPH_KIND,
        SHAPE_NORM_KINDS,
        ONE_D_KINDS,
        EVERY_SPATIAL_KIND,
    ],
    ids=lambda s: s.name,
)
def test_specs_survive_json(spec):
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_dict(json.loads(spec.to_json())) == spec


def test_every_layer_kind_is_covered_here():
    kinds = {
        layer.kind
        for spec in (EVERY_KIND, EVERY_GRAPH_KIND, SHAPE_NORM_KINDS, ONE_D_KINDS, EVERY_SPATIAL_KIND)
        for layer in spec.all_layers()
    }
    assert kinds | {"global_pool2d"} == set(LAYER_KINDS)  # global pooling: test_grids_come_from_a_conv_lstm_without_sequences


def test_graph_shapes_shared_calls_and_outputs():
    shapes = EVERY_GRAPH_KIND.tensor_shapes()
    assert shapes["td"] == Steps(4, 4 * 3 * 3) and shapes["td_flat"] == shapes["planes_flat"] == Steps(4, 25)
    assert shapes["cat"] == Steps(4, 36 + 25 + 3)
    assert shapes["shared"] == shapes["shared@1"] == Steps(4, 8)
    assert EVERY_GRAPH_KIND.output_shapes() == [Steps(3, 4), Steps(4, 8)]
    assert [layer.name for layer in EVERY_GRAPH_KIND.layers].count("shared") == 1  # one layer, two calls
    assert not EVERY_GRAPH_KIND.is_stack and get_preset("seed-cnn").is_stack


def test_seed_presets_are_the_articles_models():
    flat = get_preset("seed-flat")
    assert flat.input == InputSpec.frames(100, 10, 10, 1)
    assert [type(layer) for layer in flat.layers] == [Flatten, LSTM, Dense]
    assert [entry.output for entry in flat.layer_shapes()] == [Steps(100, 100), Vector(64), Vector(1)]
    for name, channels in (("seed-cnn", 1), ("seed-cnn-rgb", 3)):
        spec = get_preset(name)
        assert spec.input == InputSpec.frames(100, 10, 10, channels)
        conv, pool, _, lstm, dense = spec.layers
        assert (conv.filters, conv.kernel_size, conv.strides, conv.padding, conv.activation) == (
            32,
            (3, 3),
            (1, 1),
            "valid",
            "relu",
        )
        assert (pool.mode, pool.pool_size, pool.strides, pool.padding) == ("max", (2, 2), (2, 2), "valid")
        assert [entry.output for entry in spec.layer_shapes()] == [
            Frames(100, 8, 8, 32), Frames(100, 4, 4, 32), Steps(100, 512), Vector(64), Vector(1),
        ]  # fmt: skip
        assert (lstm.units, dense.units) == (64, 1)
        assert spec.output_shape() == (1,)


def test_shapes_through_every_kind():
    outputs = [entry.output for entry in EVERY_KIND.layer_shapes()]
    assert outputs == [
        Frames(6, 10, 9, 4), Frames(6, 10, 9, 4), Frames(6, 5, 5, 4), Frames(6, 5, 5, 4), Frames(6, 5, 5, 3),
        Frames(6, 5, 5, 3), Frames(6, 5, 5, 2), Steps(6, 50), Steps(6, 50), Steps(6, 50), Steps(6, 8), Steps(6, 4),
        Steps(6, 5), Steps(6, 3), Steps(6, 2),
    ]  # fmt: skip
    assert len(EVERY_KIND.outputs) == 2 and EVERY_KIND.output_shape() == (6, 2)


def test_grids_come_from_a_conv_lstm_without_sequences():
    spec = ModelSpec(
        InputSpec.frames(None, 8, 6, 1),
        layers=(ConvLSTM2D(4, 3), Conv2D(2, 3, padding="same"), Pool2D("max", 2), GlobalPool2D(), Dense(3)),
    )
    assert [entry.output for entry in spec.layer_shapes()] == [Grid(6, 4, 4), Grid(6, 4, 2), Grid(3, 2, 2), Vector(2), Vector(3)]
    assert ModelSpec(FRAME, layers=(GlobalPool2D("max"), LSTM(2))).output_shape() == (2,)
    assert ModelSpec(FRAME, layers=(ConvLSTM2D(2, 3), Flatten(), Dense(1))).output_shape() == (1,)
    assert ModelSpec(FRAME, layers=(Flatten(), Bidirectional(SimpleRNN(3)))).output_shape() == (6,)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "expected"),
    [
        (10, 3, 1, 1, (1, 1)),  # odd kernel: symmetric
        (10, 4, 1, 1, (1, 2)),  # even kernel: odd cell after
        (10, 3, 2, 1, (0, 1)),  # out 5, total (5-1)*2 + 3 - 10 = 1
        (7, 2, 2, 1, (0, 1)),  # out 4, total 3*2 + 2 - 7 = 1
        (9, 3, 2, 1, (1, 1)),  # out 5, total 4*2 + 3 - 9 = 2
        (8, 1, 3, 1, (0, 0)),  # 1x1 kernel never pads
        (10, 3, 1, 2, (2, 2)),  # dilation 2: effective kernel 5
        (5, 7, 1, 1, (3, 3)),  # kernel larger than the input
    ],
)
def test_same_padding_matches_tensorflow(size, kernel, stride, dilation, expected):
    assert same_padding(size, kernel, stride, dilation) == expected
    before, after = expected
    assert (
        output_size(size, kernel, stride, "same", dilation) == (size + before + after - (kernel - 1) * dilation - 1) // stride + 1
    )


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "expected"),
    [(10, 3, 1, 1, 8), (10, 3, 2, 1, 4), (11, 3, 2, 1, 5), (4, 4, 1, 1, 1), (3, 4, 1, 1, 0), (10, 3, 1, 2, 6)],
)
def test_valid_output_size(size, kernel, stride, dilation, expected):
    assert output_size(size, kernel, stride, "valid", dilation) == expected


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: ModelSpec(InputSpec.frames(5, 4, 4), layers=(Conv2D(2, 3, name="c"), Conv2D(2, 3, name="d"))),
            r"conv2d d shrinks the frame below 1x1: input .* = \(2, 2, 2\), output = \(0, 0, 2\)",
        ),
        (
            lambda: ModelSpec(InputSpec.frames(5, 3, 6), layers=(Pool2D("max", 4),)),
            r"pool2d pool2d_1 shrinks the frame below 1x1",
        ),
        (lambda: Conv2D(2, 3, padding="full"), r"padding: expected one of 'valid', 'same', got 'full'"),
        (lambda: Conv2D(2, 3, activation="swishy"), r"activation: expected one of 'linear', 'relu', .*got 'swishy'"),
        (lambda: Conv2D(2, 3, strides=2, dilation_rate=2), r"strides > 1 with dilation_rate > 1 is not allowed"),
        (lambda: Conv2D(0, 3), r"filters: expected a positive int, got 0"),
        (lambda: Conv2D(2, (3, -1)), r"kernel_size: expected positive sizes"),
        (lambda: Conv2D(2, (3, 3, 3)), r"kernel_size: expected an int or 2 ints"),
        (lambda: Conv3D(2, (3, 3)), r"kernel_size: expected an int or 3 ints"),
        (lambda: Conv2D(True, 3), r"filters: expected a positive int, got True"),
        (lambda: Pool2D("min"), r"mode: expected one of 'max', 'avg', got 'min'"),
        (lambda: InputSpec.frames(5, 10, 10, channels=0), r"input channels: expected a positive int, got 0"),
        (lambda: InputSpec.frames(0, 10, 10), r"input timesteps: expected a positive int, got 0"),
        (lambda: LSTM(8, return_sequences="yes"), r"return_sequences: expected true or false, got 'yes'"),
        (lambda: GRU(8, dropout=1.0), r"dropout: expected a number in \[0, 1\), got 1.0"),
        (lambda: BatchNorm(epsilon=0), r"epsilon: expected a positive finite number"),
        (lambda: Masking(float("nan")), r"mask_value: expected a finite number"),
        (lambda: Bidirectional(Dense(3)), r"layer: expected an LSTM, GRU or SimpleRNN"),
        (lambda: Bidirectional(LSTM(3, go_backwards=True)), r"must not go backwards"),
        (lambda: Bidirectional(LSTM(3), merge_mode="max"), r"merge_mode: expected one of"),
        (lambda: ModelSpec(FRAME, layers=(Flatten(), LSTM(4, name="a"), LSTM(4, name="a"))), r"layer name 'a' is used twice"),
        (lambda: Dense(1, name="1head"), r"expected an identifier"),
        (lambda: Dense(1, name="head.out"), r"expected an identifier"),
        (lambda: ModelSpec(FRAME, layers=()), r"expected at least one layer"),
        (lambda: ModelSpec(FRAME, layers=("lstm",)), r"expected lstm2d.spec layers, got 'lstm'"),
        (
            lambda: ModelSpec(FRAME, layers=(Flatten(), LSTM(4), LSTM(4))),
            r"lstm lstm_2 expects a sequence .*got a vector .*must return sequences",
        ),
        (
            lambda: ModelSpec(FRAME, layers=(Conv2D(2, 3), LSTM(4))),
            r"lstm lstm_1 expects a sequence .*got frames .*flatten each frame first .*expected ndim=3, found ndim=2",
        ),
        (lambda: ModelSpec(FRAME, layers=(Flatten(), Conv2D(2, 1))), r"conv2d conv2d_1 expects frames or a grid, got a sequence"),
        (
            lambda: ModelSpec(FRAME, layers=(Flatten(), LSTM(3), Flatten())),
            r"flatten flatten_2 expects frames, a grid or a sequence, got a vector .*already flat",
        ),
        (
            lambda: ModelSpec(InputSpec.frames(None, 4, 4), layers=(Flatten(), Flatten())),
            r"flatten flatten_2 expects a fixed number of timesteps, got a sequence .*needs its length",
        ),
        (lambda: ModelSpec(FRAME, layers=(Masking(),)), r"masking masking_1 expects a sequence .*after the per-frame Flatten"),
        (
            lambda: ModelSpec(FRAME, layers=(Flatten(), Masking(), BatchNorm(), LSTM(2))),
            r"batch_norm batch_norm_1 after the mask of masking_1: only Dropout, Activation, Dense, merges and recurrent",
        ),
        (
            lambda: ModelSpec(
                FRAME, layers=(Flatten(), Dense(3), BatchNorm(per_timestep=True), LSTM(2), BatchNorm(per_timestep=True))
            ),
            r"per_timestep=True needs a time axis",
        ),
        (
            lambda: ModelSpec(FRAME, layers=(Flatten(), Bidirectional(LSTM(2), merge_mode=None), Dense(1))),
            r"merge_mode=None gives two outputs",
        ),
        (lambda: ModelSpec(FRAME, layers=(Flatten(), LSTM(2), ConvLSTM2D(2, 3))), r"conv_lstm2d conv_lstm2d_1 expects frames"),
        (
            lambda: ModelSpec(InputSpec.frames(None, 4, 4), layers=(Conv3D(1, (3, 1, 1)),)),
            r"time axis needs stride 1 and, for a time kernel over 1, padding='same'",
        ),
        (lambda: ModelSpec(InputSpec.frames(2, 4, 4), layers=(Conv3D(1, (3, 1, 1)),)), r"shrinks the input below one cell"),
    ],
)
def test_invalid_descriptions_say_what_is_wrong(build, message):
    with pytest.raises(SpecError, match=message):
        build()


def test_spec_errors_are_value_errors():
    assert issubclass(SpecError, ValueError)


def test_activation_names_include_keras2_hard_sigmoid():
    assert {"hard_sigmoid", "hard_sigmoid_keras2", "gelu", "swish", "silu", "elu", "softmax"} <= set(ACTIVATIONS)


INPUT = {"timesteps": 5, "height": 4, "width": 4}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"input": INPUT, "layers": [], "extra": 1}, r"unknown keys \['extra'\]"),
        ({"input": {**INPUT, "depth": 2}, "layers": []}, r"model spec input: unknown keys \['depth'\]"),
        ({"input": INPUT, "layers": [{"kind": "conv4d"}]}, r"layers\[0\]: unknown layer kind 'conv4d'"),
        ({"input": INPUT, "layers": [{"filters": 2}]}, r"expected a layer object with a 'kind'"),
        (
            {"input": INPUT, "layers": [{"kind": "flatten"}, {"kind": "dense", "units": 1, "bias": 0}]},
            r"layers\[1\] \(dense\): unknown keys \['bias'\]",
        ),
        ({"input": INPUT, "layers": [{"kind": "dense"}]}, r"layers\[0\] \(dense\): .*units"),
        ({"input": INPUT, "layers": {"kind": "dense", "units": 1}}, r"model spec layers: expected a list"),
        (
            {"input": INPUT, "layers": [{"kind": "bidirectional", "layer": {"kind": "dense", "units": 2}}]},
            r"unknown layer kind 'dense'; expected one of \['gru', 'lstm', 'simple_rnn'\]",
        ),
        ({"format_version": 1, "input": INPUT, "frontend": []}, r"format_version 1 is not supported \(expected one of"),
        ({"format_version": 2, "layers": []}, r"model spec input: expected an object, got None"),
        ({"layers": []}, r"missing 'inputs'"),
        ({"input": INPUT}, r"missing 'layers'"),
        ([1, 2], r"expected a JSON object, got list"),
    ],
)
def test_from_dict_refuses_what_it_does_not_understand(data, message):
    with pytest.raises(SpecError, match=message):
        ModelSpec.from_dict(data)


def test_from_json_refuses_invalid_json():
    with pytest.raises(SpecError, match="not valid JSON"):
        ModelSpec.from_json("{'input': 1}")


def test_layer_json_lists_name_last_and_nests_bidirectional():
    data = ModelSpec(FRAME, layers=(Flatten(), Bidirectional(GRU(3), merge_mode="sum"))).to_dict()
    bidirectional = data["layers"][1]
    assert list(bidirectional) == ["kind", "layer", "merge_mode", "name"]
    assert bidirectional["layer"]["kind"] == "gru" and list(bidirectional["layer"])[-1] == "name"


def test_unnamed_layers_are_numbered_per_kind_and_skip_taken_names():
    spec = ModelSpec(
        FRAME,
        layers=(
            Conv2D(2, 3), Pool2D("max", 2), Conv2D(2, 1, name="conv2d_2"), Conv2D(2, 1), Flatten(),
            LSTM(4, return_sequences=True), LSTM(3, name="encoder"), Dense(3), Dense(1),
        ),
    )  # fmt: skip
    assert [layer.name for layer in spec.layers] == [
        "conv2d_1", "pool2d_1", "conv2d_2", "conv2d_3", "flatten_1", "lstm_1", "encoder", "dense_1", "dense_2",
    ]  # fmt: skip
    assert spec.layer("encoder").units == 3
    with pytest.raises(KeyError, match="no layer named 'decoder'"):
        spec.layer("decoder")


def test_open_timesteps_and_with_input():
    spec = ModelSpec(
        InputSpec.frames(None, 9, 7, 2),
        layers=(Conv2D(4, 3, strides=2, padding="same"), Flatten(), LSTM(6, return_sequences=True), Dense(2)),
    )
    assert [entry.output for entry in spec.layer_shapes()] == [
        Frames(None, 5, 4, 4),
        Steps(None, 80),
        Steps(None, 6),
        Steps(None, 2),
    ]
    assert spec.output_shape() == (None, 2)
    assert spec.with_input(timesteps=7).output_shape() == (7, 2)
    with pytest.raises(SpecError):
        spec.with_input(height=0)


def test_format_2_files_of_earlier_versions_still_load():
    """A spec file lstm2d wrote before graphs: one frames input, a stack of layers."""
    old = {
        "format_version": 2,
        "name": "seed-cnn",
        "input": {"timesteps": 100, "height": 10, "width": 10, "channels": 1},
        "layers": [
            {"kind": "conv2d", "filters": 32, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
             "dilation_rate": [1, 1], "activation": "relu", "use_bias": True, "name": "conv2d_1"},
            {"kind": "pool2d", "mode": "max", "pool_size": [2, 2], "strides": [2, 2], "padding": "valid", "name": "pool2d_1"},
            {"kind": "flatten", "name": "flatten_1"},
            {"kind": "lstm", "units": 64, "return_sequences": False, "go_backwards": False, "activation": "tanh",
             "use_bias": True, "dropout": 0.0, "recurrent_dropout": 0.0, "recurrent_activation": "sigmoid",
             "unit_forget_bias": True, "name": "lstm_1"},
            {"kind": "dense", "units": 1, "activation": "linear", "use_bias": True, "name": "dense_1"},
        ],
    }  # fmt: skip
    assert ModelSpec.from_dict(old) == get_preset("seed-cnn")
    assert ModelSpec.from_dict({k: v for k, v in old.items() if k != "format_version"}) == get_preset("seed-cnn")
    assert json.loads(get_preset("seed-cnn").to_json())["format_version"] == 3


def test_graph_errors_name_the_node_and_the_tensor():
    frames = InputSpec.frames(4, 6, 6, 2)
    both = (frames, InputSpec.sequence(4, 3, name="side"))
    flat = Node(Flatten(name="f"), ("frames",))
    cases = [
        ((frames,), (Node(Dense(2, name="d"), ("nowhere",)),), ("d",), r"dense d: tensor 'nowhere' is not made by any input"),
        (both, (flat, Node(Add(name="a"), ("f", "side"))), ("a",), r"add a: inputs \(4, 72\), \(4, 3\) differ on axis 1"),
        (both, (flat,), ("f",), r"input 'side' is not used by any layer"),
        ((frames,), (flat, Node(Dense(2, name="d"), ("f",)), Node(Dense(1, name="e"), ("f",))), ("e",),
         r"dense d \(call 0\) leads to no model output"),
        ((frames,), (flat, Node(Concatenate(name="c"), ("f",))), ("c",), r"concatenate c: called on 1 tensors, expected 2"),
        (both, (Node(Flatten(name="side"), ("frames",)),), ("side",), r"layer name 'side' is also an input's name"),
        ((frames,), (flat, Node(Dense(2, name="d"), ("f",)), Node(Dense(2, name="d"), ("f@1",))), ("d@1",),
         r"tensor 'f@1' is not made"),
        ((frames,), (flat, Node(Dense(2, name="d"), ("f",)), Node(Dense(3, name="d"), ("f",))), ("d@1",),
         r"layer name 'd' is used twice; names must be unique \(a shared layer is one layer\)"),
    ]  # fmt: skip
    for inputs, nodes, outputs, message in cases:
        with pytest.raises(SpecError, match=message):
            ModelSpec(inputs=inputs, nodes=nodes, outputs=outputs)


def test_a_shared_layer_needs_inputs_its_weights_fit():
    spec_inputs = (InputSpec.sequence(None, 3, name="a"), InputSpec.sequence(7, 3, name="b"), InputSpec.sequence(7, 4, name="c"))
    lstm = LSTM(2, name="enc")
    ok = ModelSpec(inputs=spec_inputs[:2], nodes=(Node(lstm, ("a",)), Node(lstm, ("b",)), Node(Add(name="s"), ("enc", "enc@1"))),
                   outputs=("s",))  # fmt: skip
    assert ok.tensor_shapes()["enc@1"] == Vector(2)  # the time axis may differ between calls
    with pytest.raises(SpecError, match=r"lstm enc: call 1 gets a sequence .*= \(7, 4\), but its weights are for .*\(\*, 3\)"):
        ModelSpec(inputs=(spec_inputs[0], spec_inputs[2]), nodes=(Node(lstm, ("a",)), Node(lstm, ("c",))),
                  outputs=("enc", "enc@1"))  # fmt: skip


# -- every kind's registry entries here: its Keras form both ways, its description ----------------------------------

CHANNELS_FIRST_KINDS = ModelSpec(  # the spatial kinds' channels_first Keras forms, and Flatten's own data_format
    inputs=(InputSpec.frames(3, 6, 5, 2),),
    nodes=(
        Node(Conv2D(3, 3, padding="same", name="conv"), ("frames",)),
        Node(BatchNorm(per_timestep=True, name="bn_frames"), ("conv",)),
        Node(Pool2D("max", 2, name="pool"), ("bn_frames",)),
        Node(BatchNorm(name="bn"), ("pool",)),
        Node(Flatten("channels_first", name="flat"), ("bn",)),
        Node(GlobalPool2D("max", name="gap"), ("bn",)),
        Node(Concatenate(name="joined"), ("flat", "gap")),
        Node(GRU(2, name="gru"), ("joined",)),
        Node(Submodel(ModelSpec(InputSpec.vector(2, name="state"), (Dense(1),), name="head"), name="head"), ("gru",)),
    ),
    outputs=("head",),
    data_format="channels_first",
    name="channels-first-kinds",
)
SAMPLE_SPECS = (EVERY_KIND, EVERY_GRAPH_KIND, CHANNELS_FIRST_KINDS, SHAPE_NORM_KINDS, SHAPE_NORM_CHANNELS_FIRST, ONE_D_KINDS)
SAMPLE_SPECS += (EVERY_SPATIAL_KIND, SPATIAL_CHANNELS_FIRST)
READ_BY_THE_MODEL_READER = ("model", "time_distributed")
"""Kinds whose Keras classes (a nested Sequential or Functional model, TimeDistributed) the model reader
(``torch_impl.files.keras_config``) reads itself, before any ``from_keras``: checked by reading whole models back."""


def _calls(spec: ModelSpec) -> list[tuple[NodeShapes, str]]:
    """Every call in ``spec`` and in the models nested in it, with the data format of the model it is in."""
    nested = [layer.spec for layer in spec.all_layers() if isinstance(layer, Submodel)]
    return [(entry, spec.data_format) for entry in spec.infer().nodes] + [call for inner in nested for call in _calls(inner)]


def _samples(kind: str) -> list[tuple[NodeShapes, str]]:
    samples = [(entry, data_format) for spec in SAMPLE_SPECS for entry, data_format in _calls(spec) if entry.layer.kind == kind]
    assert samples, f"no sample of layer kind {kind!r} in {[spec.name for spec in SAMPLE_SPECS]}: add one"
    return samples


def _from_keras(config: dict, data_format: str, shape: Shape, *, wrapped: bool) -> tuple[Layer | None, list[str]]:
    """The layer a Keras layer config reads back as (what the model reader does for a single layer), and its problems."""
    context = DecodeContext(name="sample", data_format=data_format, shape=shape, wrapped=wrapped)
    context.decode = lambda raw, name: KERAS_CLASSES[raw["class_name"]].from_keras(
        raw["class_name"], raw["config"], replace(context, name=name)
    )
    return KERAS_CLASSES[config["class_name"]].from_keras(config["class_name"], config["config"], context), context.problems


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS))
def test_every_layer_kind_has_a_keras_codec(kind):
    """Every kind names its Keras classes, and what it writes as Keras reads back as the same layer, for every sample
    (those a 2D layer on frames is written in: TimeDistributed of the layer, read inside it)."""
    cls = LAYER_KINDS[kind]
    assert cls.keras_classes and all(KERAS_CLASSES[name] is cls for name in cls.keras_classes), cls.keras_classes
    for entry, data_format in _samples(kind):
        layer = replace(entry.layer, name="sample")
        config = layer_config(layer, "sample", entry.input, data_format)
        per_frame = layer.runs_per_frame(entry.input)
        written = config["config"]["layer"] if per_frame else config
        assert written["class_name"] in cls.keras_classes, written
        if kind in READ_BY_THE_MODEL_READER:
            continue  # read back with their whole models below
        shape = entry.input.item if per_frame else entry.input
        read, problems = _from_keras(written, data_format, shape, wrapped=per_frame)
        assert (read, problems) == (layer, []), config


@pytest.mark.parametrize("kind", READ_BY_THE_MODEL_READER)
def test_models_and_time_distributed_are_read_back_by_the_model_reader(kind):
    spec = next(spec for spec in SAMPLE_SPECS if any(layer.kind == kind for layer in spec.all_layers()))
    assert spec_from_config(model_config(spec), keras_version="3.15.1", where="sample")[0] == spec


def _options_set(layer: Layer) -> int:
    return sum(f.default is MISSING or getattr(layer, f.name) != f.default for f in fields(layer) if f.name != "name")


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS))
def test_every_layer_kind_describes_its_options(kind):
    """A kind with options says more than its class name (for the sample that sets the most); one without (a merge)
    is its Keras class."""
    cls = LAYER_KINDS[kind]
    layer = max((entry.layer for entry, _ in _samples(kind)), key=_options_set)
    if [f for f in fields(cls) if f.name != "name"]:
        assert layer.describe() != cls.__name__, f"{layer!r} is described as just {layer.describe()!r}"
    else:
        assert layer.describe() == cls.__name__ in cls.keras_classes


MASKED = (InputSpec.sequence(5, 3, name="x"), InputSpec.mask(5, name="m"))


def _masked_then(layer: Layer) -> ModelSpec:
    """A GRU reading mask ``m``, its sequences (which carry the mask) twice into ``layer``, then an LSTM."""
    nodes = (Node(GRU(2, return_sequences=True, name="gru"), ("x",), mask="m"), Node(layer, ("gru", "gru")))
    return ModelSpec(inputs=MASKED, nodes=(*nodes, Node(LSTM(2, name="lstm"), (layer.name,))), outputs=("lstm",))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: _masked_then(Concatenate(axis=1, name="time")),
            r"concatenate time after the mask of m: .*\(of the merges: Concatenate on the last axis, and the element-wise ones "
            r"but Maximum and Minimum\)",
        ),
        (lambda: _masked_then(Maximum(name="max")), r"maximum max after the mask of m"),
        (
            lambda: ModelSpec(inputs=MASKED, nodes=(Node(GRU(2, name="gru"), ("x", "m")),), outputs=("gru",)),
            r"gru gru: a boolean input is a mask; pass it as mask=, not as an input",
        ),
        (
            lambda: ModelSpec(inputs=MASKED, nodes=(Node(Dense(2, name="d"), ("x",), mask="m"),), outputs=("d",)),
            r"dense d: only recurrent layers, GlobalAveragePooling1D over time and Softmax of a vector of steps take mask=",
        ),
        (
            lambda: ModelSpec(
                inputs=(InputSpec.sequence(5, 3, name="x"), InputSpec.mask(4, name="m")),
                nodes=(Node(GRU(2, name="gru"), ("x",), mask="m"),),
                outputs=("gru",),
            ),
            r"gru gru: mask 'm' has 4 steps, the input 5",
        ),
        (
            lambda: ModelSpec(
                inputs=(InputSpec.frames(3, 4, 4, 2),),
                nodes=(
                    Node(Conv2D(2, 3, padding="same", name="a"), ("frames",)),
                    Node(Concatenate(name="joined"), ("a", "frames")),
                ),
                outputs=("joined",),
                data_format="channels_first",
            ),
            r"concatenate joined: lstm2d concatenates frames or grids in channels_last models only",
        ),
        (
            lambda: ModelSpec(InputSpec.frames(3, 4, 4, 2), (Conv2D(2, 3), Reshape((6, 4))), data_format="channels_first"),
            r"reshape reshape_1: in a channels_first model lstm2d reshapes frames only to flatten each one",
        ),
        (
            lambda: ModelSpec(
                inputs=(InputSpec.sequence(5, 3, name="a"), InputSpec.sequence(4, 3, name="b")),
                nodes=(Node(Add(name="sum"), ("a", "b")),),
                outputs=("sum",),
            ),
            r"add sum: inputs \(5, 3\), \(4, 3\) differ on axis 0",
        ),
    ],
    ids=[
        "concatenate-masked-time",
        "maximum-masked",
        "mask-as-input",
        "mask-to-dense",
        "mask-steps",
        "concatenate-channels-first-frames",
        "reshape-channels-first-frames",
        "merge-shapes",
    ],
)
def test_graph_refusals_name_the_layer_and_the_reason(build, message):
    """What the graph matrix meets that lstm2d refuses (Keras would run it), each named."""
    with pytest.raises(SpecError, match=message):
        build()


@pytest.mark.parametrize(
    ("shape", "target", "flattens"),
    [
        (Frames(3, 2, 2, 2), (3, 8), True),  # each frame's 8 values, the same 3 steps
        (Frames(None, 2, 2, 2), (-1, 8), True),
        (Frames(3, 2, 2, 2), (6, 4), False),  # other steps: values move across frames
        (Frames(3, 2, 2, 2), (12, 2), False),
        (Frames(3, 2, 2, 2), (24,), False),  # the whole sequence
        (Grid(2, 3, 2), (12,), True),
        (Grid(2, 3, 2), (3, 4), False),
    ],
)
def test_a_reshape_is_a_flatten_only_where_each_step_stays_one_step(shape, target, flattens):
    """torch runs a flatten on channels-first frames as it is (the order in the next weights); any other reshape in
    Keras' layout. Telling them apart by rank alone ran Reshape((6, 4)) of (3, 2, 2, 2) frames as a flatten."""
    assert Reshape(target).flattens_steps(shape) is flattens


# -- shape, normalisation, regularisation and activation layers -----------------------------------------------------

SIDE = InputSpec.sequence(5, 4, name="x")
STEPS_MASK = InputSpec.mask(5, name="m")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Dense(2, activation="glu"), r"'glu' is not supported: it halves the axis it gates"),
        (lambda: Activation("threshold"), r"'threshold' is not supported: it needs threshold and default_value"),
        (lambda: Activation("sparsemax"), r"'sparsemax' is not supported: Keras 3.15's sparsemax is not sparsemax"),
        (lambda: LayerNorm(axis=0), r"layer_norm \(unnamed\) axis: axis 0 is the batch axis"),
        (lambda: LayerNorm(axis=(1, 1)), r"an axis is given twice"),
        (lambda: PReLU(shared_axes=(-1,)), r"shared_axes: expected Keras' positive axes"),
        (lambda: Permute((1, 3)), r"dims: expected a permutation of 1, 2, ..., rank"),
        (lambda: Normalization(mean=1.0), r"give mean and variance together"),
        (lambda: Normalization(mean=(1.0, 2.0), variance=(1.0,)), r"must have one shape"),
        (lambda: Normalization(mean=0.0, variance=-1.0), r"variance: expected values >= 0"),
        (lambda: Normalization(mean=[[1.0], [1.0, 2.0]], variance=1.0), r"nested lists of unequal lengths"),
        (lambda: GaussianNoise(1.5), r"stddev: expected a number in \[0, 1\]"),
        (lambda: ReLU(max_value=-1.0), r"max_value: expected a number >= 0"),
        (lambda: ModelSpec(FRAME, (LayerNorm(axis=5),)), r"axis 5 is out of range for frames .* per-sample axes are 1 to 4"),
        (lambda: ModelSpec(FRAME, (Flatten(), Flatten(whole=True))), r"whole=True flattens a sequence of frames"),
        (lambda: ModelSpec(InputSpec.frames(None, 4, 4), (Flatten(whole=True),)),
         r"flattening a whole sequence needs its length; to flatten each frame, wrap Flatten in TimeDistributed"),
        (lambda: ModelSpec(InputSpec.frames(3, 4, 4, 2), (Conv2D(3, 3), GroupNorm(2))), r"2 groups do not split 3 features"),
        (lambda: ModelSpec(InputSpec.sequence(None, 3), (LayerNorm(axis=(1, 2)),)), r"a fixed size on every normalised axis"),
        (lambda: ModelSpec(InputSpec.sequence(None, 3), (Permute((2, 1)),)), r"move the open time axis"),
        (lambda: ModelSpec(InputSpec.sequence(4, 3), (Normalization(axis=-1, mean=(1.0, 2.0), variance=(1.0, 1.0)),)),
         r"mean and variance of shape \(2,\) do not fit the kept axes \(3,\)"),
        (lambda: ModelSpec(InputSpec.frames(3, 4, 5, 2), (Conv2D(3, 3), Dense(2)), data_format="channels_first"),
         r"on channels_first frames or grids Keras' Dense mixes the width"),
        (lambda: ModelSpec(InputSpec.frames(3, 4, 5, 2), (Conv2D(3, 3), Permute((1, 3, 2, 4))), data_format="channels_first"),
         r"lstm2d permutes frames or grids in channels_last models only"),
        (lambda: ModelSpec(InputSpec.frames(3, 4, 5, 2), (Conv2D(3, 3), Flatten("channels_first", whole=True)),
                           data_format="channels_first"), r"on a whole sequence of frames moves the time axis last"),
        (lambda: ModelSpec(inputs=(SIDE, STEPS_MASK), nodes=(Node(Softmax(name="s"), ("x",), mask="m"),), outputs=("s",)),
         r"softmax s: only recurrent layers, GlobalAveragePooling1D over time and Softmax of a vector of steps take"),
        (lambda: ModelSpec(SIDE, (Masking(), Softmax())), r"softmax softmax_1 after the mask of masking_1"),
        (lambda: ModelSpec(FRAME, (RMSNorm(axis=2),)), r"rms_norm_1 expects axes that end at the last one, got axis=2"),
        (lambda: ModelSpec(SIDE, (RMSNorm(axis=(1, -1)),)), r"scale broadcast from the last axis"),  # Keras sorts: (F, T)
    ],
    ids=[
        "glu", "threshold", "sparsemax", "batch-axis", "axis-twice", "prelu-negative-shared", "permute-not-permutation",
        "mean-alone", "statistics-shapes", "negative-variance", "ragged-statistics", "noise-stddev", "relu-max-value",
        "axis-range", "whole-of-a-sequence", "whole-open-time", "groups", "open-normalised-axis", "permute-open-time",
        "statistics-fit", "dense-channels-first-frames", "permute-channels-first-frames", "whole-channels-first",
        "softmax-mask-on-a-sequence", "softmax-after-masking", "rms-norm-inner-axis", "rms-norm-axes-keras-sorts-out-of-order",
    ],
)  # fmt: skip
def test_shape_norm_refusals_name_the_layer_and_the_reason(build, message):
    with pytest.raises(SpecError, match=message):
        build()


def test_keras_axes_of_channels_first_frames_are_mapped_to_the_specs():
    """A channels_first model's frames are (time, channels, height, width) in Keras: its axis 2 is the spec's channels."""
    shape = Frames(3, 5, 6, 4)
    assert sample_axes((2,), shape, "channels_first", "x") == (3,)
    assert sample_axes((-1, -2), shape, "channels_first", "x") == (1, 2)  # width and height
    assert sample_axes((2,), shape, "channels_last", "x") == (1,)
    assert sample_axes((1, 2), Steps(4, 3), "channels_first", "x") == (0, 1)  # sequences are the same in both
    assert negative_axes((1, 3, -1), 3) == (-3, -1, -1)


def test_a_softmax_takes_a_mask_over_a_vector_of_steps():
    spec = ModelSpec(
        inputs=(InputSpec.vector(5, name="scores"), STEPS_MASK),
        nodes=(Node(Softmax(name="w"), ("scores",), mask="m"), Node(Dense(1, name="out"), ("w",))),
        outputs=("out",),
    )
    entry = spec.infer().nodes[0]
    assert entry.masked and spec.infer().masks["w"] is None  # the mask is read there, and goes no further


def test_group_norm_one_group_per_feature_and_its_features():
    layer = GroupNorm(-1)
    assert layer.group_count(Frames(3, 5, 4, 6), "channels_last") == 6
    assert GroupNorm(2, axis=2).features(Frames(3, 5, 4, 6), "channels_first") == 6  # Keras' axis 2: the channels
    assert layer.describe() == "GroupNorm(a group per feature, axis=-1)"


def test_flatten_of_a_whole_sequence_of_frames_is_one_vector_in_keras_order():
    spec = ModelSpec(FRAME, (Conv2D(2, 3, padding="same"), Flatten(whole=True)))
    assert spec.output_shape() == (5 * 8 * 8 * 2,)
    config = layer_config(spec.layers[1], "flat", Frames(5, 8, 8, 2), "channels_last")
    assert config == {"class_name": "Flatten", "config": {"name": "flat", "data_format": "channels_last"}}  # unwrapped
    assert "whole" not in json.dumps(ModelSpec(FRAME, (Flatten(),)).to_dict())  # its default is left out of the JSON


def test_leaky_relu_reads_keras_2s_alpha_and_keeps_the_layers_default_slope():
    """The layer's default slope is 0.3 (the leaky_relu activation's is 0.2); Keras 2 files name it alpha."""
    assert LeakyReLU().negative_slope == 0.3
    read, problems = _from_keras(
        {"class_name": "LeakyReLU", "config": {"alpha": 0.1}}, "channels_last", Steps(4, 3), wrapped=False
    )
    assert (read, problems) == (LeakyReLU(0.1, name="sample"), [])


# -- 1D layers: what a mask does at them, and what is refused -----------------------------------------------------------


def test_one_d_layers_read_back_from_their_keras_model_config():
    """Per-step layers written as TimeDistributed read back as the layers themselves (the reader lists the nodes in
    the order of Keras' config, breadth first)."""
    read = spec_from_config(model_config(ONE_D_KINDS), keras_version="3.15.1", where="sample")[0]
    assert (read.inputs, set(read.nodes), read.outputs) == (ONE_D_KINDS.inputs, set(ONE_D_KINDS.nodes), ONE_D_KINDS.outputs)


def test_keras_1d_layers_drop_a_mask_and_global_average_reads_it():
    """Keras' Conv1D (like every 1D layer but GlobalAveragePooling1D) does not support masking: it drops the mask (with a
    warning) and computes on every step; the LSTM after it sees none. GlobalAveragePooling1D averages the real steps."""
    spec = ModelSpec(
        InputSpec.sequence(6, 3),
        (Masking(), Conv1D(3, 2, padding="causal"), LSTM(2, return_sequences=True), GlobalPool1D()),
    )
    inference = spec.infer()
    assert inference.masks["conv1d_1"] is None and not next(e for e in inference.nodes if e.layer.kind == "lstm").masked
    masked = ModelSpec(InputSpec.sequence(6, 3), (Masking(), LSTM(2, return_sequences=True), GlobalPool1D(), Dense(1)))
    pool = next(e for e in masked.infer().nodes if e.layer.kind == "global_pool1d")
    assert pool.masked and masked.infer().masks[pool.output_refs[0]] is None


SIGNALS = InputSpec((4, 7, 2), name="signals")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: ModelSpec(inputs=MASKED, nodes=(Node(GlobalPool1D("max", name="gmp"), ("x",), mask="m"),), outputs=("gmp",)),
            r"global_pool1d gmp: only recurrent layers, GlobalAveragePooling1D over time and Softmax",
        ),
        (
            lambda: ModelSpec(
                inputs=(SIGNALS, InputSpec.mask(4, name="m")),
                nodes=(Node(GlobalPool1D(name="gap"), ("signals",), mask="m"),),
                outputs=("gap",),
            ),
            r"global_pool1d gap: only recurrent layers, GlobalAveragePooling1D over time and Softmax",
        ),
        (
            lambda: ModelSpec(InputSpec.frames(4, 5, 6, 2), (Conv1D(3, 2),)),
            r"conv1d conv1d_1 expects a sequence \(time, features\) or a sequence of 1D signals \(time, length, channels\), got "
            r"frames .*; flatten each frame first",
        ),
        (lambda: ModelSpec(SIGNALS, (Conv1D(4, 2, groups=4),)), r"conv1d conv1d_1 expects channels divisible by groups 4"),
        (lambda: Conv1D(3, 2, groups=2), r"conv1d \(unnamed\): filters 3 are not divisible by groups 2"),
        (lambda: Conv1D(3, 2, strides=2, dilation_rate=2), r"strides > 1 with dilation_rate > 1 is not allowed"),
        (lambda: Conv1DTranspose(3, 2, padding="causal"), r"padding: expected one of 'valid', 'same', got 'causal'"),
        (
            lambda: ModelSpec(InputSpec.sequence(4, 2), (Cropping1D((2, 2)),)),
            r"cropping1d cropping1d_1 shrinks the signal below one step: input \(length, channels\) = \(4, 2\), output length 0",
        ),
        (lambda: ZeroPadding1D((1, -1)), r"padding: expected an int or \(before, after\), both >= 0, got \(1, -1\)"),
        (
            lambda: ModelSpec(InputSpec.grid(5, 6, 2), (Conv2D(2, 3), Conv1D(2, 2)), data_format="channels_first"),
            r"conv1d conv1d_1: a channels_first model lays out a rank-3 tensor as a grid",
        ),
        (
            lambda: ModelSpec(SIGNALS, (Conv2D(2, 3, padding="same"), ConvLSTM1D(2, 2)), data_format="channels_first"),
            r"conv_lstm1d conv_lstm1d_1: a channels_first model lays out a rank-3 tensor as a grid",
        ),
    ],
    ids=[
        "max-mask-input",
        "mask-input-per-step",
        "1d-on-frames",
        "groups-channels",
        "groups-filters",
        "strides-dilation",
        "transpose-causal",
        "crop-everything",
        "negative-padding",
        "channels-first-signals",
        "channels-first-conv-lstm1d",
    ],
)
def test_one_d_refusals_name_the_layer_and_the_reason(build, message):
    with pytest.raises(SpecError, match=message):
        build()


@pytest.mark.parametrize(
    ("class_name", "config", "problem"),
    [
        ("Conv1D", {"filters": 2, "kernel_size": [3], "data_format": "channels_first"}, "data_format='channels_first'"),
        ("Conv1DTranspose", {"filters": 2, "kernel_size": [3], "output_padding": [1]}, "output_padding=[1] is not supported"),
        ("GlobalAveragePooling1D", {"data_format": "channels_first"}, "data_format='channels_first'"),
        ("ConvLSTM1D", {"filters": 2, "kernel_size": [3], "data_format": "channels_first"}, "data_format='channels_first'"),
    ],
)
def test_keras_1d_options_lstm2d_does_not_implement_are_named(class_name, config, problem):
    _, problems = _from_keras({"class_name": class_name, "config": config}, "channels_last", Steps(5, 3), wrapped=False)
    assert len(problems) == 1 and problem in problems[0], problems
