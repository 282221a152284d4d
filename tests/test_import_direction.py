"""Imports flow one way: the description needs no framework, the torch side never needs Keras or TensorFlow."""

from __future__ import annotations

from tests.blocked_imports import run_with_blocked as _run_with_blocked


def test_torch_side_works_without_keras_or_tensorflow():
    done = _run_with_blocked(
        "keras,tensorflow,jax,keras_ref",
        """
        import numpy as np, torch
        import torch_impl
        from lstm2d import get_preset
        from torch_impl.weight_table import weight_table

        spec = get_preset("seed-cnn-rgb")
        model = torch_impl.build_model(spec)
        weights = {e.name: {k: np.ones(s, np.float32) for k, s in e.keras_shapes.items()} for e in weight_table(spec)}
        torch_impl.load_keras_weights(model, weights)
        assert model(torch.zeros(2, 100, 3, 10, 10)).shape == (2, 1)
        assert not imported({"keras", "tensorflow", "jax"})
        print("ok")
        """,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_description_and_cli_parser_need_no_framework():
    done = _run_with_blocked(
        "torch,keras,tensorflow,jax,torch_impl,keras_ref",
        """
        from lstm2d import ModelSpec, get_preset
        from lstm2d.cli import main
        assert ModelSpec.from_json(get_preset("seed-cnn").to_json()) == get_preset("seed-cnn")
        assert main(["presets"]) == 0
        """,
    )
    assert done.returncode == 0, done.stderr


def test_verify_without_the_keras_side_says_how_to_install_it():
    done = _run_with_blocked(
        "keras",
        """
        import importlib.util
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "keras" else real(name, *a)
        from lstm2d.cli import main
        raise SystemExit(main(["verify", "--preset", "seed-cnn"]))
        """,
    )
    assert done.returncode == 2
    assert "pip install 'lstm2d[keras]'" in done.stderr
