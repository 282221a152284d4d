"""Weights through Keras and back: what comes back is exactly what went in (LSTM biases: merged once, then exact)."""

from __future__ import annotations

import numpy as np
import pytest

import keras_ref
import torch_impl
from lstm2d.parity import build_pair, random_inputs
from parity_tests.specs import PARITY_SPECS

SPEC_IDS = [spec.name for spec in PARITY_SPECS]


def _through_keras(torch_model: torch_impl.Lstm2dNet) -> dict[str, np.ndarray]:
    """torch -> Keras model variables -> read back -> torch state."""
    spec = torch_model.spec
    keras_model = keras_ref.build_model(spec)
    keras_ref.set_weights(keras_model, spec, torch_impl.export_keras_weights(torch_model))
    fresh = torch_impl.build_model(spec)
    torch_impl.load_keras_weights(fresh, keras_ref.get_weights(keras_model, spec))
    return torch_impl.state_as_numpy(fresh)


@pytest.mark.parametrize("spec", PARITY_SPECS, ids=SPEC_IDS)
def test_torch_keras_torch_is_bit_exact(spec):
    _, torch_model = build_pair(spec, "torch_to_keras", seed=11)
    original = torch_impl.state_as_numpy(torch_model)
    assert any(np.any(v != 0) for k, v in original.items() if "bias_hh" in k), "test needs non-zero bias_hh"

    once = _through_keras(torch_model)
    assert list(once) == list(original)
    for key, value in original.items():
        if "bias_ih" in key:
            np.testing.assert_array_equal(once[key], value + original[key.replace("bias_ih", "bias_hh")], err_msg=key)
        elif "bias_hh" in key:
            np.testing.assert_array_equal(once[key], np.zeros_like(value), err_msg=key)
        else:
            np.testing.assert_array_equal(once[key], value, err_msg=key)

    # Once the biases are merged, the round trip is the identity on every tensor.
    torch_impl.load_state(torch_model, once)
    twice = _through_keras(torch_model)
    for key, value in once.items():
        np.testing.assert_array_equal(twice[key], value, err_msg=key)


@pytest.mark.parametrize("spec", PARITY_SPECS, ids=SPEC_IDS)
def test_keras_torch_keras_is_bit_exact(spec):
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=12)
    original = keras_ref.get_weights(keras_model, spec)
    back = torch_impl.export_keras_weights(torch_model)
    assert sorted(back) == sorted(original)
    for layer, variables in original.items():
        assert sorted(back[layer]) == sorted(variables)
        for name, value in variables.items():
            np.testing.assert_array_equal(back[layer][name], value, err_msg=f"{layer}/{name}")


def test_merged_bias_changes_outputs_only_by_rounding():
    spec = next(spec for spec in PARITY_SPECS if spec.name == "stacked-lstm")
    _, torch_model = build_pair(spec, "torch_to_keras", seed=13)
    merged = torch_impl.build_model(spec).eval()
    torch_impl.load_state(merged, _through_keras(torch_model))
    import torch

    x = torch.from_numpy(random_inputs(spec, np.random.default_rng(0), batch=4)).permute(0, 1, 4, 2, 3)
    with torch.inference_mode():
        np.testing.assert_allclose(merged(x).numpy(), torch_model(x).numpy(), rtol=0, atol=1e-6)
