"""``lstm2d verify`` with the Keras backend of this process: the table, the JSON, the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras

import lstm2d.parity
import torch_impl
from lstm2d.cli import EXIT_OVER_TOLERANCE, main
from lstm2d.tolerances import FP32_CPU_FORWARD_ATOL
from tests.graph_models import TWO_HEADS

BACKEND = keras.backend.backend()


def test_verify_seed_cnn_rgb_prints_errors_within_tolerance():
    done = subprocess.run(
        [sys.executable, "-m", "lstm2d", "verify", "--preset", "seed-cnn-rgb", "--backend", BACKEND],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Keras backend: {BACKEND}" in done.stdout
    assert "seed-cnn-rgb keras -> torch" in done.stdout and "seed-cnn-rgb torch -> keras" in done.stdout
    assert "all outputs within tolerance" in done.stdout


def test_verify_json_reports_each_direction(capsys):
    assert main(["verify", "--preset", "seed-flat", "--json", "--batch", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == BACKEND and result["ok"] is True
    assert [r["label"] for r in result["reports"]] == ["seed-flat keras -> torch", "seed-flat torch -> keras"]
    outputs = [o for r in result["reports"] for o in r["outputs"]]
    assert [o["shape"] for o in outputs] == [[2, 1], [2, 1]]
    assert all(0 <= o["max_abs"] <= o["atol"] == FP32_CPU_FORWARD_ATOL for o in outputs)


def test_verify_exits_non_zero_over_tolerance(monkeypatch, capsys):
    real_check = lstm2d.parity.check_spec
    monkeypatch.setattr(lstm2d.parity, "check_spec", lambda *a, **kw: real_check(*a, **{**kw, "atol": 0.0}))
    assert main(["verify", "--preset", "seed-flat", "--direction", "keras_to_torch"]) == EXIT_OVER_TOLERANCE
    out = capsys.readouterr().out
    assert "NO" in out and "OVER TOLERANCE" in out


def test_verify_refuses_a_second_backend_in_one_process(capsys):
    other = "jax" if BACKEND != "jax" else "tensorflow"
    assert main(["verify", "--preset", "seed-flat", "--backend", other]) == 2
    assert f"already running the {BACKEND} backend" in capsys.readouterr().err


def test_verify_a_graph_spec_and_its_keras_file(tmp_path, capsys):
    """Three inputs (open time axes filled by --timesteps, a mask among them), a shared layer, a nested model, two
    outputs: a report row per output, from the spec and from a file Keras and lstm2d both read."""
    (tmp_path / "graph.json").write_text(TWO_HEADS.to_json())
    args = ["--json", "--batch", "3", "--timesteps", "5"]
    assert main(["verify", "--spec", str(tmp_path / "graph.json"), "--direction", "keras_to_torch", *args]) == 0
    report = json.loads(capsys.readouterr().out)["reports"][0]
    assert [(o["name"], o["shape"]) for o in report["outputs"]] == [("out", [3, 1]), ("per_step", [3, 5, 3])]
    torch_impl.to_keras(torch_impl.build_model(TWO_HEADS), tmp_path / "graph.keras")
    assert main(["verify", str(tmp_path / "graph.keras"), *args]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True and [o["shape"] for o in result["reports"][0]["outputs"]] == [[3, 1], [3, 5, 3]]
