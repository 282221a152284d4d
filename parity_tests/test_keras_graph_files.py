"""Graph models as people write them in Keras, saved by Keras itself (``.keras``) and by tf-keras (legacy ``.h5``),
read by lstm2d without Keras, written back, and opened by Keras again.

Each model of ``graph_models`` is built and saved once per session (per format), with seeded weights; every check
compares lstm2d's outputs with the Keras model's own on seeded inputs, within ``FP32_CPU_FORWARD_ATOL``.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest

import keras_ref
from lstm2d.cli import main
from lstm2d.parity import Inputs, compare, input_dict, keras_outputs, random_inputs, torch_outputs
from lstm2d.spec import ModelSpec
from lstm2d.tolerances import FP32_CPU_FORWARD_ATOL
from parity_tests.graph_models import GRAPH_MODELS, UNSUPPORTED_MODELS, GraphModel, seeded_weights
from tests.blocked_imports import run_with_blocked
from torch_impl.files import UnsupportedModelError, describe_keras_file, from_keras, read_keras_file, to_keras

pytestmark = pytest.mark.backend_neutral  # make test: with Keras on TensorFlow; make test-deep: on every backend

BACKEND = keras.backend.backend()
LEGACY_MODELS = [model for model in GRAPH_MODELS if model.legacy_h5]


class SavedModels:
    """Each model built by ``builder_module`` (``keras`` or ``tf_keras``) and saved as ``<name>.<suffix>``, once."""

    def __init__(self, folder: Path, builder_module: Any, suffix: str) -> None:
        self.folder, self.builder_module, self.suffix = folder, builder_module, suffix
        self.saved: dict[str, tuple[Path, Any]] = {}

    def __getitem__(self, model: GraphModel) -> tuple[Path, Any]:
        if model.name not in self.saved:
            built = seeded_weights(model.build(self.builder_module), seed=len(self.saved))
            path = self.folder / f"{model.name}.{self.suffix}"
            built.save(path)
            self.saved[model.name] = (path, built)
        return self.saved[model.name]


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> SavedModels:
    return SavedModels(tmp_path_factory.mktemp("keras3"), keras, "keras")


@pytest.fixture(scope="module")
def legacy_files(tmp_path_factory: pytest.TempPathFactory) -> SavedModels | None:
    """tf-keras' .h5 files where tf-keras runs (it needs TensorFlow: the TensorFlow backend's run), else None."""
    if BACKEND != "tensorflow" or importlib.util.find_spec("tf_keras") is None:
        return None
    import tf_keras

    return SavedModels(tmp_path_factory.mktemp("legacy"), tf_keras, "h5")


def _inputs(spec: ModelSpec, model: GraphModel) -> Inputs:
    """Seeded inputs (5 steps where the time axis is open); for a model with a Masking layer, the second sample's
    last two steps are padding (zeros)."""
    inputs = random_inputs(spec, np.random.default_rng(11), batch=3, timesteps=5)
    if model.masked:
        for array in input_dict(spec, inputs).values():
            array[1, -2:] = 0.0
    return inputs


def _check(reference_model: Any, torch_model: Any, inputs: Inputs, label: str) -> float:
    """lstm2d's outputs against the Keras model's (by position, named as Keras names them); the max abs error."""
    reference = keras_outputs(reference_model, inputs)
    report = compare(reference, torch_outputs(torch_model, inputs, list(reference)), atol=FP32_CPU_FORWARD_ATOL, label=label)
    assert report.ok and not report.uninformative, report.table()
    return report.max_abs


def _weights_tree(path: Path) -> set[str]:
    """Every group and dataset (with its shape) of a ``.keras`` file's model.weights.h5."""
    tree: set[str] = set()
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
        h5.visititems(lambda name, obj: tree.add(name + (f" {obj.shape}" if isinstance(obj, h5py.Dataset) else "")))
    return tree


@pytest.mark.parametrize("model", GRAPH_MODELS, ids=lambda model: model.name)
def test_keras_file_read_into_torch(keras_files, model):
    path, keras_model = keras_files[model]
    torch_model = from_keras(path, input_layout="channels_last")
    assert len(torch_model.spec.outputs) == len(keras_model.outputs)
    _check(keras_model, torch_model, _inputs(torch_model.spec, model), f"{model.name} .keras -> torch")


@pytest.mark.parametrize("model", GRAPH_MODELS, ids=lambda model: model.name)
def test_written_file_opens_in_keras_as_keras_writes_it(keras_files, tmp_path, model):
    """lstm2d's .keras of the model read from Keras' file: Keras opens it and computes what torch computes, and its
    weights file is the one Keras writes for the same model (groups, datasets, shapes)."""
    torch_model = from_keras(keras_files[model][0], input_layout="channels_last")
    to_keras(torch_model, tmp_path / "lstm2d.keras")
    reopened = keras.saving.load_model(tmp_path / "lstm2d.keras")  # lstm2d's own file: no vetting needed
    _check(reopened, torch_model, _inputs(torch_model.spec, model), f"{model.name} torch -> .keras -> Keras")
    reopened.save(tmp_path / "resaved.keras")
    assert _weights_tree(tmp_path / "lstm2d.keras") == _weights_tree(tmp_path / "resaved.keras")


@pytest.mark.parametrize("model", LEGACY_MODELS, ids=lambda model: model.name)
def test_legacy_h5_from_tf_keras(legacy_files, model):
    if legacy_files is None:
        pytest.skip("tf-keras writes legacy .h5 on TensorFlow; covered in the TensorFlow run")
    path, tf_keras_model = legacy_files[model]
    torch_model = from_keras(path, input_layout="channels_last")
    _check(tf_keras_model, torch_model, _inputs(torch_model.spec, model), f"{model.name} tf-keras .h5 -> torch")


def test_the_cli_loader_opens_a_legacy_graph_file(legacy_files):
    """``lstm2d verify``'s loader opens tf-keras' .h5 of a nested graph (with Keras 3, or tf-keras where Keras 3 cannot:
    it refuses tf-keras' recurrent layers, which carry Keras 2's time_major) and agrees with lstm2d."""
    if legacy_files is None:
        pytest.skip("tf-keras writes legacy .h5 on TensorFlow; covered in the TensorFlow run")
    model = next(model for model in GRAPH_MODELS if model.name == "td_functional_cnn")
    torch_model = from_keras(legacy_files[model][0], input_layout="channels_last")
    reference = keras_ref.load_vetted_model(legacy_files[model][0])
    _check(reference, torch_model, _inputs(torch_model.spec, model), "td_functional_cnn .h5 -> the CLI's Keras loader")


def test_the_article_example_is_read_exactly(keras_files):
    """Example 1 as written: LSTM(64, input_shape=(100, 100)), Dense(1) in a Sequential without an Input."""
    spec = from_keras(keras_files[GRAPH_MODELS[0]][0]).spec
    lstm, dense = spec.layers  # named as Keras named them: "lstm", or "lstm_3" after other models in this process
    assert (lstm.kind, lstm.units, dense.kind, dense.units) == ("lstm", 64, "dense", 1)
    assert spec.input.shape == (100, 100)


def test_nested_models_are_reported_with_their_layers(keras_files, capsys):
    """``lstm2d inspect`` (describe_keras_file) gives each nested model its layers, at every depth."""
    path, _ = keras_files[next(model for model in GRAPH_MODELS if model.name == "deep_nested_backbone")]
    _, layers = describe_keras_file(path)
    tree = {(depth, layer.name, layer.display) for top in layers for depth, layer in top.walk()}
    assert {(1, "td", "TimeDistributed(Functional)"), (2, "block", "Sequential"), (3, "block_bn", "BatchNormalization")} <= tree
    assert main(["inspect", str(path)]) == 0
    assert "encoder" in capsys.readouterr().out


@pytest.mark.parametrize("model", UNSUPPORTED_MODELS, ids=lambda model: model.name)
def test_a_built_in_lstm2d_does_not_convert_is_unsupported_not_unsafe(keras_files, legacy_files, model):
    """Keras built-ins pass the safety check and are refused by the reader, named (in tf-keras' .h5 too)."""
    layer, what = {
        "adaptive_average_pooling_1d": ("adaptive", "AdaptiveAveragePooling1D is a Keras layer"),
        "keras_ops_add": ("add", r"Add is a Keras op \(keras.src.ops.numpy\)"),
    }[model.name]
    paths = [keras_files[model][0], *([legacy_files[model][0]] if legacy_files and model.legacy_h5 else [])]
    for path in paths:
        with pytest.raises(UnsupportedModelError, match=rf"'{layer}' \(.*\): {what} lstm2d does not convert yet"):
            from_keras(path)


def test_reading_graph_files_needs_no_keras(keras_files, legacy_files, tmp_path):
    """Every graph file (and tf-keras' .h5 where tf-keras runs), read and run in a process where Keras, TensorFlow and
    JAX cannot import; the outputs are Keras' own, computed here."""
    cases = [(model, keras_files[model]) for model in GRAPH_MODELS]
    cases += [(model, legacy_files[model]) for model in LEGACY_MODELS] if legacy_files else []
    for i, (model, (path, keras_model)) in enumerate(cases):
        spec = read_keras_file(path).spec
        inputs = _inputs(spec, model)
        outputs = keras_outputs(keras_model, inputs).values()
        arrays = {**{f"in_{k}": v for k, v in input_dict(spec, inputs).items()}, **{f"out{j}": v for j, v in enumerate(outputs)}}
        np.savez(tmp_path / f"{i}.npz", **arrays)
        (tmp_path / f"{i}.path").write_text(str(path))
    done = run_with_blocked(
        "keras,tensorflow,jax,tf_keras,keras_ref",
        """
        import sys
        from pathlib import Path
        import numpy as np
        from lstm2d.parity import compare, torch_outputs
        from lstm2d.tolerances import FP32_CPU_FORWARD_ATOL
        from torch_impl import from_keras

        cases = sorted(Path(sys.argv[2]).glob("*.path"))
        for case in cases:
            data = np.load(case.with_suffix(".npz"))
            model = from_keras(case.read_text(), input_layout="channels_last")
            inputs = {name[3:]: data[name] for name in data.files if name.startswith("in_")}
            expected = {name: data[name] for name in data.files if name.startswith("out")}
            report = compare(expected, torch_outputs(model, inputs, list(expected)), atol=FP32_CPU_FORWARD_ATOL)
            assert report.ok, (case.read_text(), report.table())
        assert not imported({"keras", "tensorflow", "jax", "tf_keras"})
        print("ok", len(cases))
        """,
        str(tmp_path),
    )
    assert done.returncode == 0 and done.stdout.strip() == f"ok {len(cases)}", done.stdout + done.stderr
