"""``lstm2d export --against-keras`` with the Keras backend of this process: the artifact checked against Keras itself,
for the seed presets (written by ``torch_impl.to_keras``) and for graph models saved by Keras (several inputs and
outputs, nested models, shared layers, masks)."""

from __future__ import annotations

import importlib.util

import keras
import pytest

import torch_impl
from lstm2d.cli import EXIT_OK, EXIT_USAGE, main
from lstm2d.parity import initial_weights
from lstm2d.presets import get_preset, preset_names
from parity_tests.graph_models import GRAPH_MODELS, GraphModel, seeded_weights

BACKEND = keras.backend.backend()
FORMATS = [
    pytest.param(
        "onnx",
        marks=pytest.mark.skipif(
            not all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime")),
            reason="needs lstm2d[export]",
        ),
    ),
    "pt2",
]
BY_NAME = {model.name: model for model in GRAPH_MODELS}
FAST_GRAPHS = ("shared_nested_model", "gru_with_mask_input")  # two inputs, three outputs, a nested model; a mask input


def _export_against_keras(source, target, capsys, *options: str) -> str:
    """``lstm2d export SOURCE TARGET --against-keras``, the open time axis fixed at 4 steps where the exported graph
    unrolls a step loop (the command says so and exits 2); the printed report, every output within tolerance."""
    argv = ["export", str(source), str(target), "--against-keras", "--backend", BACKEND, *options]
    code = main(argv)
    if code == EXIT_USAGE and "give timesteps=" in capsys.readouterr().err:
        code = main([*argv, "--timesteps", "4"])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert f"{target.name} ({target.suffix[1:]}, fp32, channels_last) vs Keras" in out
    assert "all outputs within tolerance" in out
    return out


def _export_graph_model(model: GraphModel, fmt: str, tmp_path, capsys) -> None:
    """The model saved by Keras with seeded weights, exported and checked against Keras."""
    path = tmp_path / f"{model.name}.keras"
    seeded_weights(model.build(keras), seed=3).save(path)
    _export_against_keras(path, tmp_path / f"model.{fmt}", capsys)


@pytest.mark.parametrize(  # each graph in each format: the deep run
    ("name", "fmt"),
    [pytest.param(FAST_GRAPHS[0], "onnx", marks=FORMATS[0].marks), (FAST_GRAPHS[1], "pt2")],
)
def test_a_keras_graph_file_exports_and_matches_keras(name, fmt, tmp_path, capsys):
    _export_graph_model(BY_NAME[name], fmt, tmp_path, capsys)


@pytest.mark.deep
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("model", GRAPH_MODELS, ids=lambda model: model.name)
def test_every_keras_graph_file_exports_and_matches_keras(model, fmt, tmp_path, capsys):
    _export_graph_model(model, fmt, tmp_path, capsys)


@pytest.mark.deep
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", preset_names())
def test_every_preset_exports_and_matches_keras(name, fmt, tmp_path, capsys):
    spec = get_preset(name)
    model = torch_impl.build_model(spec)
    torch_impl.load_state(model, initial_weights(spec, "torch_to_keras")[1])
    torch_impl.to_keras(model, tmp_path / f"{name}.keras")
    out = _export_against_keras(tmp_path / f"{name}.keras", tmp_path / f"{name}.{fmt}", capsys)
    assert f"{spec.outputs[0]} (B=3 T={spec.input.timesteps})" in out
