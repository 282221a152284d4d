"""The model description: presets, JSON, padding arithmetic, validation messages, naming."""

from __future__ import annotations

import json

import pytest

from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import LSTM, Conv2D, Dense, InputSpec, ModelSpec, Pool2D, SpecError, output_size, same_padding

FRAME = InputSpec(timesteps=5, height=8, width=8, channels=1)


@pytest.mark.parametrize("name", preset_names())
def test_presets_survive_json(name):
    spec = get_preset(name)
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_dict(json.loads(spec.to_json())) == spec


def test_seed_presets_are_the_articles_models():
    flat = get_preset("seed-flat")
    assert flat.input == InputSpec(100, 10, 10, 1)
    assert flat.frontend == () and flat.features == 100
    assert [(layer.units, layer.return_sequences) for layer in flat.recurrent] == [(64, False)]
    assert [(layer.units, layer.activation) for layer in flat.head] == [(1, "linear")]
    for name, channels in (("seed-cnn", 1), ("seed-cnn-rgb", 3)):
        spec = get_preset(name)
        assert spec.input == InputSpec(100, 10, 10, channels)
        conv, pool = spec.frontend
        assert (conv.filters, conv.kernel_size, conv.strides, conv.padding, conv.activation) == (
            32,
            (3, 3),
            (1, 1),
            "valid",
            "relu",
        )
        assert (pool.mode, pool.pool_size, pool.strides, pool.padding) == ("max", (2, 2), (2, 2), "valid")
        assert spec.frame_shapes() == [(10, 10, channels), (8, 8, 32), (4, 4, 32)]
        assert spec.features == 512
        assert spec.output_shape() == (1,)


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
    ("size", "kernel", "stride", "expected"), [(10, 3, 1, 8), (10, 3, 2, 4), (11, 3, 2, 5), (4, 4, 1, 1), (3, 4, 1, 0)]
)
def test_valid_output_size(size, kernel, stride, expected):
    assert output_size(size, kernel, stride, "valid") == expected


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: ModelSpec(InputSpec(5, 4, 4), frontend=(Conv2D(2, 3, name="c"), Conv2D(2, 3, name="d"))),
            r"conv2d d shrinks the frame below 1x1: input .* = \(2, 2, 2\), output = \(0, 0, 2\)",
        ),
        (lambda: ModelSpec(InputSpec(5, 3, 6), frontend=(Pool2D("max", 4),)), r"pool2d pool2d_1 shrinks the frame below 1x1"),
        (lambda: Conv2D(2, 3, padding="full"), r"padding: expected one of valid, same, got 'full'"),
        (
            lambda: Conv2D(2, 3, activation="mish"),
            r"activation: expected one of linear, relu, tanh, sigmoid, softmax, got 'mish'",
        ),
        (lambda: Conv2D(0, 3), r"filters: expected a positive int, got 0"),
        (lambda: Conv2D(2, (3, -1)), r"kernel_size: expected positive sizes"),
        (lambda: Conv2D(2, (3, 3, 3)), r"kernel_size: expected an int or a pair of ints"),
        (lambda: Conv2D(True, 3), r"filters: expected a positive int, got True"),
        (lambda: Pool2D("min"), r"mode: expected one of max, avg, got 'min'"),
        (lambda: InputSpec(5, 10, 10, channels=0), r"input channels: expected a positive int, got 0"),
        (lambda: InputSpec(0, 10, 10), r"input timesteps: expected a positive int, got 0"),
        (lambda: LSTM(8, return_sequences="yes"), r"return_sequences must be a bool"),
        (lambda: ModelSpec(FRAME, recurrent=(LSTM(4, name="a"), LSTM(4, name="a"))), r"layer name 'a' is used twice"),
        (lambda: ModelSpec(FRAME, head=(Dense(1, name="flatten"),)), r"'flatten' is reserved"),
        (lambda: Dense(1, name="1head"), r"expected an identifier"),
        (lambda: Dense(1, name="head.out"), r"expected an identifier"),
        (
            lambda: ModelSpec(FRAME, recurrent=(LSTM(4), LSTM(4))),
            r"lstm lstm_1 feeds another LSTM, so it must return sequences .*expected ndim=3, found ndim=2",
        ),
        (lambda: ModelSpec(FRAME, recurrent=()), r"expected at least one LSTM layer"),
        (lambda: ModelSpec(FRAME, frontend=(LSTM(4),)), r"frontend: expected Conv2D or Pool2D layers"),
        (lambda: ModelSpec(FRAME, head=(Conv2D(2, 3),)), r"head: expected Dense layers"),
    ],
)
def test_invalid_descriptions_say_what_is_wrong(build, message):
    with pytest.raises(SpecError, match=message):
        build()


def test_spec_errors_are_value_errors():
    assert issubclass(SpecError, ValueError)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"input": {"timesteps": 5, "height": 4, "width": 4}, "extra": 1}, r"unknown keys \['extra'\]"),
        ({"input": {"timesteps": 5, "height": 4, "width": 4, "depth": 2}}, r"model spec input: unknown keys \['depth'\]"),
        ({"input": {"timesteps": 5, "height": 4, "width": 4}, "frontend": [{"kind": "conv3d"}]}, r"unknown layer kind 'conv3d'"),
        (
            {"input": {"timesteps": 5, "height": 4, "width": 4}, "frontend": [{"filters": 2}]},
            r"expected a layer object with a 'kind'",
        ),
        (
            {"input": {"timesteps": 5, "height": 4, "width": 4}, "head": [{"kind": "dense", "units": 1, "bias": 0}]},
            r"head dense: unknown keys \['bias'\]",
        ),
        ({"input": {"timesteps": 5, "height": 4, "width": 4}, "head": [{"kind": "dense"}]}, r"head dense: .*units"),
        (
            {"input": {"timesteps": 5, "height": 4, "width": 4}, "head": {"kind": "dense", "units": 1}},
            r"expected a list of layers",
        ),
        ({"format_version": 99, "input": {"timesteps": 5, "height": 4, "width": 4}}, r"format_version 99 is not supported"),
        ({"frontend": []}, r"missing 'input'"),
        ([1, 2], r"expected a JSON object, got list"),
    ],
)
def test_from_dict_refuses_what_it_does_not_understand(data, message):
    with pytest.raises(SpecError, match=message):
        ModelSpec.from_dict(data)


def test_from_json_refuses_invalid_json():
    with pytest.raises(SpecError, match="not valid JSON"):
        ModelSpec.from_json("{'input': 1}")


def test_missing_parts_take_the_dataclass_defaults():
    spec = ModelSpec.from_dict({"input": {"timesteps": 5, "height": 4, "width": 4}})
    assert spec == ModelSpec(InputSpec(5, 4, 4))
    assert [layer.units for layer in spec.recurrent] == [64] and [layer.units for layer in spec.head] == [1]


def test_unnamed_layers_are_numbered_per_kind_and_skip_taken_names():
    spec = ModelSpec(
        FRAME,
        frontend=(Conv2D(2, 3), Pool2D("max", 2), Conv2D(2, 1, name="conv2d_2"), Conv2D(2, 1)),
        recurrent=(LSTM(4, return_sequences=True), LSTM(3, name="encoder")),
        head=(Dense(3), Dense(1)),
    )
    assert [layer.name for layer in spec.layers] == [
        "conv2d_1", "pool2d_1", "conv2d_2", "conv2d_3", "lstm_1", "encoder", "dense_1", "dense_2",
    ]  # fmt: skip


def test_derived_sizes():
    spec = ModelSpec(
        InputSpec(None, 9, 7, 2),
        frontend=(Conv2D(4, 3, strides=2, padding="same"),),
        recurrent=(LSTM(6, return_sequences=True), LSTM(5, return_sequences=True)),
        head=(Dense(8), Dense(2)),
    )
    assert spec.frame_shapes() == [(9, 7, 2), (5, 4, 4)]
    assert spec.features == 80
    assert spec.recurrent_input_sizes() == [80, 6]
    assert spec.head_input_sizes() == [5, 8]
    assert spec.returns_sequences and spec.output_shape() == (None, 2)
    assert spec.with_input(timesteps=7).output_shape() == (7, 2)
    with pytest.raises(SpecError):
        spec.with_input(height=0)
