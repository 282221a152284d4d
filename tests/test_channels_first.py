"""Channels-first Keras models without Keras: the description, the Keras configs lstm2d writes, the weight
table's flatten order, files written and read back, and the refusals (Keras' own runs: ``parity_tests``)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest

import torch_impl
from lstm2d.cli import main
from lstm2d.spec import (
    LSTM,
    BatchNorm,
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    Dense,
    Flatten,
    Grid,
    InputSpec,
    ModelSpec,
    SpecError,
    Steps,
    keras_dims,
)
from lstm2d.spec.keras_graph import layer_config
from parity_tests.specs import CHANNELS_FIRST_SPECS
from torch_impl.files import UnsupportedModelError, to_keras
from torch_impl.files.keras_config import spec_from_config
from torch_impl.files.writer import keras_config
from torch_impl.weight_table import keras_to_torch, weight_table

SPECS = {spec.name.removeprefix("channels_first-"): spec for spec in CHANNELS_FIRST_SPECS}
FRAME = InputSpec.frames(3, 7, 5, 2)  # H != W, C > 1: every layout mistake changes a shape or a number


def _cf(*layers, input: InputSpec = FRAME) -> ModelSpec:
    return ModelSpec(input, layers=layers, data_format="channels_first")


# -- the description -------------------------------------------------------------------------------


def test_keras_shapes_follow_the_data_format_and_spec_shapes_do_not():
    spec = SPECS["conv-lstm-batch-norm"]  # frames out
    assert spec.keras_input_shape == (3, 2, 5, 4)  # (time, channels, height, width)
    assert spec.output_shape() == (3, 5, 4, 2)  # the spec's own terms stay (height, width, channels)
    assert spec.keras_output_shape() == (3, 2, 5, 4)
    assert replace(spec, data_format="channels_last").keras_output_shape() == (3, 5, 4, 2)
    assert keras_dims(Grid(5, 4, 3), "channels_first") == (3, 5, 4)
    assert keras_dims(Steps(3, 8), "channels_first") == (3, 8)


def test_json_names_the_data_format_only_where_it_is_not_the_default():
    spec = SPECS["cnn-flatten-hwc"]
    data = json.loads(spec.to_json())
    assert data["data_format"] == "channels_first"
    assert [layer.get("data_format") for layer in data["layers"] if layer["kind"] == "flatten"] == ["channels_first"]
    assert ModelSpec.from_json(spec.to_json()) == spec
    chw = json.loads(SPECS["cnn-flatten-chw"].to_json())
    assert [layer for layer in chw["layers"] if layer["kind"] == "flatten"] == [{"kind": "flatten", "name": "flatten_1"}]
    channels_last = replace(SPECS["cnn-flatten-chw"], data_format="channels_last")
    assert "data_format" not in channels_last.to_dict()  # a channels_last spec's JSON is what it was before


def test_old_spec_json_still_loads_as_channels_last():
    old = {
        "format_version": 2,
        "name": "old",
        "input": {"timesteps": 3, "height": 4, "width": 4, "channels": 1},
        "layers": [{"kind": "flatten", "name": "f"}, {"kind": "lstm", "units": 2, "name": "l"}],
    }
    spec = ModelSpec.from_dict(old)
    assert spec.data_format == "channels_last" and spec.layers[0].data_format == "channels_last"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ModelSpec(FRAME, (Conv2D(2, 3), Flatten(), LSTM(2)), data_format="nchw"),
         r"model data_format: expected one of 'channels_last', 'channels_first', got 'nchw'"),
        (lambda: _cf(ConvLSTM2D(2, 3, return_sequences=True), Conv3D(1, 3)),
         r"conv3d conv3d_1: a channels_first model's frames are \(batch, time, channels, height, width\).*time axis as the "
         r"channels.*Conv3D needs a channels_last model"),
        (lambda: ModelSpec(FRAME, (Conv2D(2, 3), Flatten("channels_first"), LSTM(2))),
         r"flatten flatten_1: data_format='channels_first' on channels_last frames .*\(W, C, H order\)"),
        (lambda: _cf(Flatten(), LSTM(2)),
         r"data_format='channels_first' needs a layer whose Keras form shows it .*a file could not tell the two apart"),
        (lambda: Flatten("NCHW"), r"flatten \(unnamed\) data_format: expected one of"),
    ],
    ids=["bad-value", "conv3d", "flatten-channels-first-in-channels-last", "nothing-shows-it", "bad-flatten-value"],
)  # fmt: skip
def test_inconsistent_descriptions_are_refused(make, message):
    with pytest.raises(SpecError, match=message):
        make()


def test_a_channels_first_flatten_alone_shows_the_format():
    spec = _cf(Flatten("channels_first"), LSTM(2))
    assert spec.flatten_order(spec.layers[0]) == "hwc"


# -- the Keras configs (one table for the Keras builder and the file writer) -----------------------


def test_every_spatial_layer_says_channels_first_and_batch_norm_takes_the_channel_axis():
    configs = {entry.layer.name: layer_config(entry.layer, entry.layer.name, entry.input, "channels_first") for entry in
               SPECS["conv-lstm-batch-norm"].layer_shapes()}  # fmt: skip
    assert configs["conv_lstm2d_1"]["config"]["data_format"] == "channels_first"
    assert configs["batch_norm_1"]["config"]["axis"] == 2  # (batch, time, channels, height, width)
    assert configs["batch_norm_2"]["class_name"] == "TimeDistributed"
    assert configs["batch_norm_2"]["config"]["layer"]["config"]["axis"] == 1  # each frame: (batch, channels, height, width)
    assert configs["conv2d_1"]["config"]["layer"]["config"]["data_format"] == "channels_first"
    grid = SPECS["conv-lstm-grid-flatten"].layer_shapes()
    assert layer_config(grid[1].layer, grid[1].layer.name, grid[1].input, "channels_first")["config"]["axis"] == 1  # a grid
    steps = ModelSpec(FRAME, (Flatten(), BatchNorm(), LSTM(2))).layer_shapes()[1]
    assert layer_config(steps.layer, steps.layer.name, steps.input, "channels_first")["config"]["axis"] == -1  # features: last


def test_the_written_file_reads_channels_first_frames():
    config = keras_config(SPECS["cnn-flatten-hwc"])
    layers = config["config"]["layers"]
    assert layers[0]["config"]["batch_shape"] == [None, 4, 2, 7, 5]
    assert [layer["config"]["layer"]["config"]["data_format"] for layer in layers[1:4]] == ["channels_first"] * 3


# -- the weight table: which flatten order, which permutation ---------------------------------------


@pytest.mark.parametrize(("name", "permuted"), [("cnn-flatten-chw", False), ("cnn-flatten-hwc", True)])
def test_the_next_layer_is_permuted_only_where_keras_flattens_hwc(name, permuted):
    spec = SPECS[name]
    table = {entry.name: entry for entry in weight_table(spec)}
    shapes = table["lstm_1"].keras_shapes
    kernel = np.arange(np.prod(shapes["kernel"]), dtype=np.float32).reshape(shapes["kernel"])
    weights = {layer: {k: np.zeros(s, np.float32) for k, s in entry.keras_shapes.items()} for layer, entry in table.items()}
    weights["lstm_1"]["kernel"] = kernel
    rows = keras_to_torch(spec, weights)["layers.lstm_1.weight_ih_l0"].T  # torch's input rows, in Keras' terms
    height, width, channels = 3, 2, 3  # the pooled frame
    hwc_of_chw = np.arange(height * width * channels).reshape(height, width, channels).transpose(2, 0, 1).reshape(-1)
    np.testing.assert_array_equal(rows, kernel[hwc_of_chw] if permuted else kernel)


# -- file configs read back, with no Keras (round trips: tests/test_files.py) -----------------------------


def _inner(config: dict, index: int) -> dict:
    """The config of layer ``index`` (0: InputLayer), inside its TimeDistributed wrapper if it has one."""
    layer = config["config"]["layers"][index]
    return layer["config"]["layer"]["config"] if layer["class_name"] == "TimeDistributed" else layer["config"]


def _refusal(config: dict) -> str:
    with pytest.raises(UnsupportedModelError) as info:
        spec_from_config(config, keras_version="3.15.1", where="m.keras")
    return str(info.value)


def test_spatial_layers_that_disagree_are_named():
    config = keras_config(SPECS["cnn-flatten-chw"])
    _inner(config, 2)["data_format"] = "channels_last"  # the pooling layer
    message = _refusal(config)
    assert "'pool2d_1' (TimeDistributed(MaxPooling2D)): data_format='channels_last' differs from the model's " in message
    assert "'channels_first' (set by layer 'conv2d_1')" in message and "'conv2d_1' (" not in message


def test_conv3d_in_a_channels_first_file_is_refused_saying_why():
    spec = ModelSpec(FRAME, (ConvLSTM2D(2, 3, padding="same", return_sequences=True), Conv3D(1, 3, padding="same")))
    config = keras_config(spec)
    for index in (1, 2):
        _inner(config, index)["data_format"] = "channels_first"
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, 3, 2, 7, 5]
    assert "'conv3d_1' (Conv3D): conv3d conv3d_1: a channels_first model's frames are" in _refusal(config)


def test_a_channels_first_flatten_on_channels_last_frames_is_refused():
    config = keras_config(ModelSpec(FRAME, (Conv2D(2, 3), Flatten(), LSTM(2), Dense(1))))
    _inner(config, 2)["data_format"] = "channels_first"
    assert "'flatten_1' (TimeDistributed(Flatten)): flatten flatten_1: data_format='channels_first' on channels_last" in (
        _refusal(config)
    )


@pytest.mark.parametrize(("axis", "ok"), [(1, True), (-3, True), (-1, False), (3, False), (2, False)])
def test_batch_norm_in_a_frame_must_take_the_channel_axis(axis, ok):
    spec = SPECS["global-average-pool"]  # TimeDistributed(BatchNormalization) on (batch, channels, height, width)
    config = keras_config(spec)
    _inner(config, 2)["axis"] = axis
    if ok:
        assert spec_from_config(config, keras_version="3.15.1", where="m.keras")[0] == spec
    else:
        assert f"axis={axis} is not supported (lstm2d normalises the channel axis of channels_first frames, 1)" in (
            _refusal(config)
        )


def test_a_file_without_spatial_layers_is_channels_first_only_if_its_flatten_says_so():
    spec = _cf(Flatten("channels_first"), LSTM(2), input=InputSpec.frames(3, 4, 3, 2))
    assert spec_from_config(keras_config(spec), keras_version="3.15.1", where="m.keras")[0] == spec
    config = keras_config(spec)
    _inner(config, 1)["data_format"] = "channels_last"  # Keras now flattens the input's axes in order: read as channels_last
    read = spec_from_config(config, keras_version="3.15.1", where="m.keras")[0]
    assert read.data_format == "channels_last" and read.input == InputSpec.frames(3, 2, 4, 3)


def test_inspect_says_the_keras_input_layout(tmp_path, capsys):
    to_keras(torch_impl.build_model(SPECS["cnn-flatten-chw"]), tmp_path / "m.keras")
    assert main(["inspect", str(tmp_path / "m.keras")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\nmodel '[^']+' \(channels_first\): 1 input", out), out
    assert re.search(r"\n  frames +\(4, 2, 7, 5\) +float32\n", out), out  # the input as the Keras model reads it
    assert "frames and grids as (height, width, channels)" in out  # the graph's shapes are the spec's
