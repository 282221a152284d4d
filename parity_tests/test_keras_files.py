"""Files made by Keras read into torch, files made by lstm2d opened by Keras, and a real Lambda file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import torch

import keras_ref
import torch_impl
from lstm2d.parity import assert_parity, build_pair, keras_outputs, random_inputs
from parity_tests.known_issues import expect_keras_cannot_run, expected_keras_bug
from parity_tests.specs import CATALOG_FILE_SAMPLES, CATALOG_SPECS, LAYER_SPECS, MASKED_SPECS, ONE_D_SPECS, PARITY_SPECS
from tests.blocked_imports import run_with_blocked
from torch_impl.files import UnsafeFileError, from_keras, to_keras

pytestmark = pytest.mark.backend_neutral  # make test: with Keras on TensorFlow; make test-deep: on every backend

BACKEND = keras.backend.backend()
SPEC_IDS = [spec.name for spec in PARITY_SPECS]
SPECS_BY_NAME = {spec.name: spec for spec in PARITY_SPECS}
KERAS2_ONLY = "hard_sigmoid_keras2"  # no Keras 3 built-in: such models are read from legacy files, not written
FILE_SPECS = [s for s in (*PARITY_SPECS, *LAYER_SPECS, *MASKED_SPECS) if KERAS2_ONLY not in s.to_json()]
FILE_SPECS += [s for s in ONE_D_SPECS if s.is_stack]  # a graph's file is read back as Keras writes it: test_keras_graph_files
FILE_PARAMS = [
    pytest.param(s, marks=[pytest.mark.deep] if s in CATALOG_SPECS and s.name not in CATALOG_FILE_SAMPLES else [], id=s.name)
    for s in FILE_SPECS
]


def _inputs(spec, seed: int = 2):
    return random_inputs(spec, np.random.default_rng(seed), batch=3, timesteps=spec.input.timesteps or 5)


def _parity_or_known_bug(keras_model, torch_model, spec, label):
    known_bug = expected_keras_bug(spec)
    if known_bug:
        with pytest.raises(AssertionError, match="parity over tolerance"):
            assert_parity(keras_model, torch_model, _inputs(spec), label=label)
        pytest.xfail(known_bug)
    return assert_parity(keras_model, torch_model, _inputs(spec), label=label)


@pytest.mark.parametrize("spec", FILE_PARAMS)
def test_keras_saved_file_into_torch(request, tmp_path, spec):
    expect_keras_cannot_run(request, spec)
    keras_model, _ = build_pair(spec, "keras_to_torch", seed=31)
    keras_model.save(tmp_path / "m.keras")
    torch_model = from_keras(tmp_path / "m.keras")
    assert torch_model.spec == spec
    _parity_or_known_bug(keras_model, torch_model, spec, f"{spec.name} .keras -> torch")


@pytest.mark.parametrize("spec", FILE_PARAMS)
def test_torch_to_file_to_keras_to_file_to_torch(request, tmp_path, spec):
    expect_keras_cannot_run(request, spec)
    _, torch_model = build_pair(spec, "torch_to_keras", seed=32)
    to_keras(torch_model, tmp_path / "from_torch.keras")
    keras_model = keras.saving.load_model(tmp_path / "from_torch.keras")  # our own file, so no vetting needed
    keras_model.save(tmp_path / "from_keras.keras")
    back = from_keras(tmp_path / "from_keras.keras")
    merged = torch_impl.build_model(spec)
    torch_impl.load_state(merged, torch_impl.state_as_numpy(from_keras(tmp_path / "from_torch.keras")))
    for key, value in merged.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    _parity_or_known_bug(keras_model, torch_model, spec, f"{spec.name} torch -> .keras -> Keras")


def test_user_named_sequential_with_dropout_and_repeated_classes(tmp_path):
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((6, 9, 8, 2)),
            layers.TimeDistributed(layers.Conv2D(4, 3, activation="relu", padding="same"), name="encoder-conv"),
            layers.TimeDistributed(layers.Conv2D(3, 2, strides=2), name="encoder conv 2"),
            layers.TimeDistributed(layers.Dropout(0.3), name="frame_dropout"),
            layers.TimeDistributed(layers.Flatten(), name="frames_flat"),
            layers.LSTM(7, return_sequences=True, name="enc1"),
            layers.Dropout(0.2, name="drop"),
            layers.LSTM(5, name="enc2"),
            layers.Dense(6, activation="tanh", name="hidden"),
            layers.Dense(2, activation="softmax", name="probs"),
        ],
        name="users_model",
    )
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(-0.4, 0.4, w.shape).astype("float32") for w in model.get_weights()])
    model.save(tmp_path / "m.keras")
    torch_model = from_keras(tmp_path / "m.keras")
    names = [layer.name for layer in torch_model.spec.layers]
    assert names == ["encoder_conv", "encoder_conv_2", "frame_dropout", "frames_flat", "enc1", "drop", "enc2", "hidden", "probs"]
    x = random_inputs(torch_model.spec, np.random.default_rng(4), batch=3)
    reference = keras.ops.convert_to_numpy(model(x, training=False))
    got = torch_model(torch.from_numpy(x).permute(0, 1, 4, 2, 3)).detach().numpy()
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-5)


def test_compiled_and_trained_model_with_optimizer_state(tmp_path):
    spec = SPECS_BY_NAME["rect-multichannel"]
    keras_model, _ = build_pair(spec, "keras_to_torch", seed=5)
    keras_model.compile(optimizer="adam", loss="mse")
    x = _inputs(spec)
    keras_model.fit(x, np.zeros((3, *keras_model.output_shape[1:]), "float32"), epochs=1, verbose=0)
    keras_model.save(tmp_path / "trained.keras")
    assert_parity(keras_model, from_keras(tmp_path / "trained.keras"), x, label="trained")


def test_keras_made_lambda_file_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "lambda-ran"
    # A Python lambda: Keras stores its bytecode in the file (a named function would be stored by name only).
    script = textwrap.dedent(
        f"""
        import keras
        write = lambda t: (__import__("pathlib").Path({str(marker)!r}).write_text("ran"), t)[1]
        inputs = keras.Input((4, 6, 6, 1))
        x = keras.layers.Lambda(write, name="evil")(inputs)
        x = keras.layers.TimeDistributed(keras.layers.Flatten())(x)
        model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.LSTM(3)(x)))
        model.save({str(tmp_path / "lambda.keras")!r})
        """
    )
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True, timeout=300)
    marker.unlink()  # building the model ran the function once; the file must not run it again

    with pytest.raises(UnsafeFileError, match=r"layer 'evil' .* is a Lambda"):
        from_keras(tmp_path / "lambda.keras")
    assert not marker.exists()

    # Control: Keras itself, with safe mode off, does run the code in this file.
    control = f"import keras; keras.saving.load_model({str(tmp_path / 'lambda.keras')!r}, safe_mode=False)"
    subprocess.run([sys.executable, "-c", control], env=env, capture_output=True, timeout=300)
    assert marker.exists(), "the crafted file should be armed: Keras without safe mode ran its Lambda"


def test_cli_verify_a_keras_saved_file(tmp_path):
    spec = SPECS_BY_NAME["seed-cnn-rgb"]
    keras_model, _ = build_pair(spec, "keras_to_torch", seed=6)
    keras_model.save(tmp_path / "m.keras")
    done = subprocess.run(
        [sys.executable, "-m", "lstm2d", "verify", str(tmp_path / "m.keras"), "--backend", BACKEND],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "keras vs lstm2d" in done.stdout and "all outputs within tolerance" in done.stdout


def _legacy_models(layers):  # tf_keras.layers -> {name: (input shape, layers)}
    return {
        "cnn-lstm": (
            (5, 9, 7, 2),
            [
                layers.TimeDistributed(layers.Conv2D(4, 3, activation="relu", padding="same", strides=2), name="enc_conv"),
                layers.TimeDistributed(layers.AveragePooling2D(2, padding="same")),
                layers.TimeDistributed(layers.Flatten()),
                layers.LSTM(8, return_sequences=True, name="enc"),
                layers.Dropout(0.1),
                layers.LSTM(4),
                layers.Dense(3, activation="softmax", name="head"),
            ],
        ),
        "keras2-recurrent-defaults": (  # Keras 2's GRU convention and hard_sigmoid formula
            (6, 4, 3, 2),
            [
                layers.TimeDistributed(layers.Flatten()),
                layers.Masking(),
                layers.GRU(5, reset_after=False, recurrent_activation="hard_sigmoid", return_sequences=True, name="gru_k2"),
                layers.Bidirectional(layers.LSTM(3, recurrent_activation="hard_sigmoid"), merge_mode="ave", name="bi"),
                layers.Dense(2),
            ],
        ),
        "conv-lstm-next-frame": (
            (4, 6, 5, 2),
            [
                layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                layers.BatchNormalization(),
                layers.TimeDistributed(layers.BatchNormalization()),
                layers.Conv3D(1, (3, 3, 3), padding="same", activation="sigmoid"),
            ],
        ),
    }


@pytest.mark.parametrize("name", ["cnn-lstm", "keras2-recurrent-defaults", "conv-lstm-next-frame"])
def test_legacy_h5_from_tf_keras(tmp_path, name):
    if BACKEND != "tensorflow":
        pytest.skip("tf-keras runs on TensorFlow; covered in the TensorFlow run")
    tf_keras = pytest.importorskip("tf_keras")
    input_shape, model_layers = _legacy_models(tf_keras.layers)[name]
    model = tf_keras.Sequential([tf_keras.layers.InputLayer(input_shape=input_shape), *model_layers])
    rng = np.random.default_rng(7)
    weights = [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights([np.abs(w) + 0.5 if "variance" in v.name else w for w, v in zip(weights, model.weights, strict=True)])
    model.save(tmp_path / "legacy.h5")
    x = rng.standard_normal((3, *input_shape)).astype("float32")
    x[1, 3:] = 0.0  # padded steps, for the model with a Masking layer
    torch_model = from_keras(tmp_path / "legacy.h5", input_layout="channels_last")
    got = torch_model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, model(x).numpy(), rtol=0, atol=1e-5)
    assert keras_outputs(keras_ref.load_vetted_model(tmp_path / "legacy.h5"), x)  # the CLI's loader opens it too
    if name == "keras2-recurrent-defaults":
        assert torch_model.spec.layer("gru_k2").recurrent_activation == "hard_sigmoid_keras2"


def test_reading_keras_files_needs_no_keras_or_tensorflow(tmp_path):
    """What a CUDA box without TensorFlow does: read Keras-made files, convert them, in a process where Keras cannot import."""
    spec = SPECS_BY_NAME["rect-multichannel"]
    keras_model, _ = build_pair(spec, "keras_to_torch", seed=8)
    keras_model.save(tmp_path / "m.keras")
    keras_model.save_weights(tmp_path / "m.weights.h5")
    x = _inputs(spec)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", keras_outputs(keras_model, x)[keras_model.output_names[0]])
    done = run_with_blocked(
        "keras,tensorflow,jax,tf_keras,keras_ref",
        """
        import json, sys
        from pathlib import Path
        import numpy as np, torch
        from lstm2d.cli import main
        from lstm2d.spec import ModelSpec
        from torch_impl import from_keras, load_safetensors

        folder, spec = Path(sys.argv[2]), ModelSpec.from_json(sys.argv[3])
        x, y = torch.from_numpy(np.load(folder / "x.npy")), np.load(folder / "y.npy")
        assert main(["convert", str(folder / "m.keras"), str(folder / "m.safetensors")]) == 0
        models = [from_keras(folder / "m.keras"), from_keras(folder / "m.weights.h5", spec=spec)]
        models.append(load_safetensors(folder / "m.safetensors"))
        for model in models:
            with torch.no_grad():
                got = model(x.permute(0, 1, 4, 2, 3)).numpy()
            assert np.abs(got - y).max() <= 1e-5, np.abs(got - y).max()
        assert not imported({"keras", "tensorflow", "jax"})
        print("ok")
        """,
        str(tmp_path),
        spec.to_json(indent=None),
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr


def test_cli_convert_and_verify_a_conv_lstm_file(tmp_path, capsys):
    """Issue 8's acceptance: `lstm2d convert` and `lstm2d verify` on a .keras file holding a ConvLSTM2D model."""
    from lstm2d.cli import main
    from lstm2d.presets import get_preset

    spec = get_preset("next-frame").with_input(timesteps=4)
    keras_model, _ = build_pair(spec, "keras_to_torch", seed=9)
    keras_model.save(tmp_path / "next_frame.keras")
    assert main(["convert", str(tmp_path / "next_frame.keras"), str(tmp_path / "next_frame.safetensors")]) == 0
    assert main(["verify", str(tmp_path / "next_frame.keras"), "--backend", BACKEND, "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "(2, 4, 16, 16, 1)" in out and "all outputs within tolerance" in out
    x = _inputs(spec)
    assert_parity(keras_model, torch_impl.load_safetensors(tmp_path / "next_frame.safetensors"), x, label="via safetensors")
