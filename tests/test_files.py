"""Model files without Keras: .keras written and read back, safetensors, the convert and inspect commands."""

from __future__ import annotations

import io
import json
import re
import zipfile

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import torch_impl
from lstm2d.cli import EXIT_OVER_TOLERANCE, EXIT_UNSUPPORTED, main
from lstm2d.parity import random_arrays, random_inputs, torch_outputs
from lstm2d.presets import get_preset
from lstm2d.spec import KERAS_CLASSES, Dense, InputSpec, LayerNorm, ModelSpec, Normalization, TimeDistributed
from lstm2d.spec.keras_graph import model_config
from parity_tests.specs import CHANNELS_FIRST_SPECS, PARITY_SPECS, SHAPE_NORM_SPECS
from tests.graph_models import TWO_HEADS, TWO_HEADS_PARAMETERS
from torch_impl.files import ModelFileError, from_keras, load_safetensors, read_keras_file, save_safetensors, to_keras
from torch_impl.files.config_safety import ALLOWED_CLASSES
from torch_impl.files.keras_config import spec_from_config
from torch_impl.files.safetensors_io import FORMAT_VERSION
from torch_impl.weight_table import weight_table


def _random_model(spec, seed: int = 0) -> torch_impl.Lstm2dNet:
    rng = np.random.default_rng(seed)
    model = torch_impl.build_model(spec)
    state = {}
    for entry in weight_table(spec):
        state.update({entry.torch_prefix + k: v for k, v in random_arrays(entry.torch_shapes, rng, layout="torch").items()})
    torch_impl.load_state(model, state)
    return model.eval()


def _states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return list(a.state_dict()) == list(b.state_dict()) and all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("spec", (*PARITY_SPECS, *CHANNELS_FIRST_SPECS), ids=lambda spec: spec.name)
def test_keras_file_round_trip_is_bit_exact(tmp_path, spec):
    """torch -> .keras -> torch: every tensor back bit for bit (LSTM biases merged once, then exact)."""
    model = _random_model(spec)
    to_keras(model, tmp_path / "a.keras")
    once = from_keras(tmp_path / "a.keras")
    assert once.spec == spec
    to_keras(once, tmp_path / "b.keras")
    assert _states_equal(from_keras(tmp_path / "b.keras"), once)
    x = torch.randn(2, spec.input.timesteps or 3, spec.input.channels, spec.input.height, spec.input.width)
    with torch.no_grad():
        torch.testing.assert_close(once(x), model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("spec", PARITY_SPECS, ids=lambda spec: spec.name)
def test_safetensors_round_trip_is_bit_exact(tmp_path, spec):
    model = _random_model(spec, seed=1)
    save_safetensors(model, tmp_path / "m.safetensors")
    loaded = load_safetensors(tmp_path / "m.safetensors")
    assert loaded.spec == spec
    assert _states_equal(loaded, model)


def test_written_archive_holds_exactly_the_keras_members(tmp_path):
    to_keras(_random_model(get_preset("seed-cnn")), tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
    assert [layer["class_name"] for layer in config["config"]["layers"]] == [
        "InputLayer",
        "TimeDistributed",
        "TimeDistributed",
        "TimeDistributed",
        "LSTM",
        "Dense",
    ]


def test_weights_only_file_with_a_preset(tmp_path):
    spec = get_preset("seed-cnn-rgb")
    model = _random_model(spec)
    to_keras(model, tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        (tmp_path / "m.weights.h5").write_bytes(archive.read("model.weights.h5"))
    (tmp_path / "spec.json").write_text(spec.to_json())
    by_name = read_keras_file(tmp_path / "m.weights.h5", spec="seed-cnn-rgb")
    by_file = from_keras(tmp_path / "m.weights.h5", spec=tmp_path / "spec.json")
    assert by_name.format == "keras3-weights" and by_file.spec == spec
    with pytest.raises(ModelFileError, match="neither a preset"):
        from_keras(tmp_path / "m.weights.h5", spec="seed-nope")
    with pytest.raises(ModelFileError, match="spec= is only for weights-only"):
        from_keras(tmp_path / "m.keras", spec=spec)


def test_safetensors_without_lstm2d_metadata_is_refused(tmp_path):
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelFileError, match="not an lstm2d safetensors file"):
        load_safetensors(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load_safetensors(tmp_path / "junk.safetensors")


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda t: t.pop("layers.dense_1.bias"), r"missing \['layers.dense_1.bias'\]"),
        (
            lambda t: t.__setitem__("layers.dense_1.bias", torch.zeros(3)),
            r"layers.dense_1.bias has shape \(3,\), the spec needs \(1,\)",
        ),
        (lambda t: t.__setitem__("layers.dense_1.bias", torch.zeros(1, dtype=torch.int32)), r"dtype torch.int32"),
        (lambda t: t.__setitem__("layers.dense_1.bias", torch.full((1,), float("nan"))), r"NaN/Inf"),
    ],
    ids=["missing", "shape", "dtype", "nan"],
)
def test_tampered_safetensors_are_refused(tmp_path, tamper, message):
    spec = get_preset("seed-cnn")
    tensors = {k: v.contiguous() for k, v in torch_impl.build_model(spec).state_dict().items()}
    tamper(tensors)
    save_file(tensors, str(tmp_path / "m.safetensors"), metadata={"lstm2d.spec": spec.to_json(), "lstm2d.format": FORMAT_VERSION})
    with pytest.raises(ModelFileError, match=message):
        load_safetensors(tmp_path / "m.safetensors")


def test_cli_convert_both_ways_and_inspect(tmp_path, capsys):
    model = _random_model(get_preset("seed-cnn"))
    to_keras(model, tmp_path / "m.keras")
    assert main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "m.safetensors")]) == 0
    assert main(["convert", str(tmp_path / "m.safetensors"), str(tmp_path / "back.keras")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert _states_equal(from_keras(tmp_path / "back.keras"), load_safetensors(tmp_path / "m.safetensors"))
    assert main(["inspect", str(tmp_path / "m.keras")]) == 0
    out = capsys.readouterr().out
    # conv 3*3*1*32 + 32 = 320; LSTM 512*256 + 64*256 + 256 = 147,712; Dense 64 + 1 = 65
    assert "TimeDistributed(Conv2D)" in out and "Conv2D(32, 3x3, relu)" in out and "total parameters: 148,097" in out


def test_cli_convert_and_inspect_report_problems(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "a.keras"), str(tmp_path / "b.onnx")]) == 2
    assert "cannot convert .keras to .onnx" in capsys.readouterr().err
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    assert main(["convert", str(tmp_path / "bad.keras"), str(tmp_path / "b.safetensors")]) == 2
    assert "must be a zip archive" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "bad.keras")]) == 2


def test_inspect_lists_unsupported_layers(tmp_path, capsys):
    to_keras(_random_model(get_preset("seed-flat")), tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][2]["config"]["stateful"] = True
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "u.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert main(["inspect", str(tmp_path / "u.keras")]) == EXIT_UNSUPPORTED != EXIT_OVER_TOLERANCE
    assert "NOT SUPPORTED: stateful=True is not supported" in capsys.readouterr().out


def test_safetensors_of_another_lstm2d_format_say_so(tmp_path):
    spec = get_preset("seed-flat")
    tensors = {k: v.contiguous() for k, v in torch_impl.build_model(spec).state_dict().items()}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={"lstm2d.spec": spec.to_json(), "lstm2d.format": "1"})
    with pytest.raises(ModelFileError, match=r"lstm2d safetensors format '1'; this version of lstm2d reads formats '2', '3'"):
        load_safetensors(tmp_path / "old.safetensors")


def _rows(out: str) -> dict[str, list[str]]:
    """The printed table rows by their first cell (indentation kept), split into cells at runs of 2+ spaces."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("  "):
            text = line[2:].lstrip()
            cells = re.split(r" {2,}", text)
            rows.setdefault(line[2 : len(line) - len(text)] + cells[0], cells[1:])
    return rows


def test_inspect_prints_the_graph_of_a_keras_file_and_its_safetensors(tmp_path, capsys):
    """Several inputs (a mask among them), a nested model under TimeDistributed, a shared layer, two outputs."""
    to_keras(_random_model(TWO_HEADS), tmp_path / "m.keras")
    assert main(["inspect", str(tmp_path / "m.keras")]) == 0
    out = capsys.readouterr().out
    assert "lstm2d converts every layer" in out
    assert "model 'two-heads' (channels_last): 3 inputs, 7 layers (8 calls), 2 outputs" in out
    rows = _rows(out)
    assert rows["frames"] == ["(*, 6, 5, 2)", "float32"] and rows["side"] == ["(*, 3)", "float32"]
    assert rows["steps"] == ["(*,)", "bool"]
    # node: Keras layer, lstm2d, inputs, output per sample, parameters
    assert rows["td"] == [
        "TimeDistributed(Sequential)",
        "TimeDistributed(Model 'backbone' (2 layers))",
        "frames",
        "(*, 36)",
        "57",
    ]
    assert rows["  conv"] == ["Conv2D", "Conv2D(3, 3x3, relu)", "frame", "(4, 3, 3)", "57"]  # one frame, as the backbone sees it
    assert rows["  flat"] == ["Flatten", "Flatten", "conv", "(36,)", "0"]
    assert rows["shared"] == ["Dense", "Dense(8, relu)", "joined", "(*, 8)", "320"]
    assert rows["shared@1"] == ["Dense", "Dense(8, relu)", "joined", "(*, 8)", "shared"]  # counted once
    assert rows["both"][2] == "shared, shared@1" and rows["lstm"][2:] == ["both, mask=steps", "(4,)", "208"]
    assert rows["out"][3:] == ["(1,)", "5"] and rows["per_step"][2:] == ["shared@1", "(*, 3)", "27"]
    assert re.search(r"\noutputs .*\n +name +shape\n +out +\(1,\)\n +per_step +\(\*, 3\)\n", out), out
    assert f"total parameters: {TWO_HEADS_PARAMETERS:,}" in out

    torch_impl.save_safetensors(from_keras(tmp_path / "m.keras"), tmp_path / "m.safetensors")
    assert main(["inspect", str(tmp_path / "m.safetensors")]) == 0
    from_safetensors = capsys.readouterr().out
    assert from_safetensors.startswith(f"{tmp_path / 'm.safetensors'}: lstm2d safetensors\n")
    same = _rows(from_safetensors)
    for node in ("td", "  conv", "shared", "shared@1", "lstm"):
        assert same[node] == rows[node][1:], node  # the same graph, without the file's Keras classes
    assert f"total parameters: {TWO_HEADS_PARAMETERS:,}" in from_safetensors


def test_inspect_lists_the_unsupported_layers_of_a_nested_model(tmp_path, capsys):
    to_keras(_random_model(TWO_HEADS), tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    td = next(layer for layer in config["config"]["layers"] if layer["name"] == "td")
    conv = next(layer for layer in td["config"]["layer"]["config"]["layers"] if layer["class_name"] == "Conv2D")
    conv["config"]["groups"] = 2
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "u.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert main(["inspect", str(tmp_path / "u.keras")]) == EXIT_UNSUPPORTED
    out = capsys.readouterr().out
    assert "lstm2d cannot convert 1 of its layers" in out
    rows = _rows(out)
    assert rows["td"] == ["TimeDistributed(Sequential)", "-", "holds unsupported layers"]
    assert rows["  conv"][0] == "Conv2D" and rows["  conv"][2].startswith("NOT SUPPORTED: groups=2 is not supported")
    assert rows["  flat"] == ["Flatten", "Flatten", "supported"] and rows["steps"] == ["InputLayer", "input", "supported"]


def test_every_keras_class_lstm2d_reads_passes_the_allowlist():
    assert set(KERAS_CLASSES) <= ALLOWED_CLASSES


@pytest.mark.parametrize("spec", SHAPE_NORM_SPECS, ids=lambda spec: spec.name)
def test_shape_and_normalisation_kinds_round_trip_through_keras_files(tmp_path, spec):
    """torch -> .keras -> torch for the shape, normalisation and activation kinds: the spec read back is the spec (a
    whole Flatten of frames too), every tensor bit for bit (LSTM biases merged once, then exact; an adapted
    Normalization's count written as Keras' int64), the same outputs."""
    model = _random_model(spec)
    to_keras(model, tmp_path / "a.keras")
    once = from_keras(tmp_path / "a.keras")
    assert once.spec == spec
    to_keras(once, tmp_path / "b.keras")
    assert _states_equal(from_keras(tmp_path / "b.keras"), once)
    inputs = random_inputs(spec, np.random.default_rng(3), batch=2)
    np.testing.assert_allclose(torch_outputs(once, inputs, ["y"])["y"], torch_outputs(model, inputs, ["y"])["y"], atol=1e-6)


def test_an_adapted_normalization_stores_its_count_as_keras_does(tmp_path):
    spec = ModelSpec(InputSpec.sequence(4, 3), (Normalization(), Dense(1)))
    model = _random_model(spec)
    model.layers["normalization_1"].count.fill_(1234)
    to_keras(model, tmp_path / "n.keras")
    with zipfile.ZipFile(tmp_path / "n.keras") as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5:
        count = h5["layers/normalization/vars/2"]
        assert count.dtype == np.int64 and count[()] == 1234
        assert [h5[f"layers/normalization/vars/{i}"].shape for i in (0, 1)] == [(3,), (3,)]
    assert int(from_keras(tmp_path / "n.keras").layers["normalization_1"].count) == 1234


def test_a_time_distributed_layer_norm_reads_as_the_layer_with_its_axes_from_the_end():
    """TimeDistributed(LayerNormalization(axis=2)) on frames normalises each frame's width: on the whole sequence that is
    axis -2 (Keras counts a step's axes from its own batch axis), so the reader drops the wrapper."""
    wrapped = ModelSpec(InputSpec.frames(3, 5, 4, 2), (TimeDistributed(LayerNorm(axis=2), name="td"), Dense(1)))
    read = spec_from_config(model_config(wrapped), keras_version="3.15.1", where="test")[0]
    assert read.layers[0] == LayerNorm(axis=(-2,), name="td")
    assert read.output_shapes() == wrapped.output_shapes()
