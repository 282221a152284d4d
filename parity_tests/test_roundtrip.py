"""Weights through Keras and back: what comes back is exactly what went in (LSTM biases: merged once, then exact)."""

from __future__ import annotations

import numpy as np
import pytest

import keras_ref
import torch_impl
from lstm2d.parity import build_pair, random_inputs
from parity_tests.specs import GRAPH_SPECS, LAYER_SPECS, ONE_D_SPECS, PARITY_SPECS
from torch_impl.weight_table import merged_biases, weight_table

ROUND_TRIP_SPECS = (*PARITY_SPECS, *LAYER_SPECS, *GRAPH_SPECS)  # graphs: shared weights once, nested ones by path
ROUND_TRIP_SPECS += ONE_D_SPECS
SPEC_IDS = [spec.name for spec in ROUND_TRIP_SPECS]


def _through_keras(torch_model: torch_impl.Lstm2dNet) -> dict[str, np.ndarray]:
    """torch -> Keras model variables -> read back -> torch state."""
    spec = torch_model.spec
    keras_model = keras_ref.build_model(spec)
    keras_ref.set_weights(keras_model, spec, torch_impl.export_keras_weights(torch_model))
    fresh = torch_impl.build_model(spec)
    torch_impl.load_keras_weights(fresh, keras_ref.get_weights(keras_model, spec))
    return torch_impl.state_as_numpy(fresh)


def _merged_bias_ih_keys(spec) -> set[str]:
    """The torch ``bias_ih`` keys of recurrent layers whose Keras side has one bias (torch -> Keras sums the two)."""
    return {entry.torch_prefix + ih for entry in weight_table(spec) for ih, _ in merged_biases(entry)}


@pytest.mark.parametrize("spec", ROUND_TRIP_SPECS, ids=SPEC_IDS)
def test_torch_keras_torch_is_bit_exact(spec):
    _, torch_model = build_pair(spec, "torch_to_keras", seed=11)
    original = torch_impl.state_as_numpy(torch_model)
    bias_hh = [v for k, v in original.items() if "bias_hh" in k]
    assert not bias_hh or any(np.any(v != 0) for v in bias_hh), "the merge needs non-zero bias_hh to be tested"

    once = _through_keras(torch_model)
    assert list(once) == list(original)
    merged = _merged_bias_ih_keys(spec)
    for key, value in original.items():
        hh_key = key.replace("bias_ih", "bias_hh")
        if key in merged:
            np.testing.assert_array_equal(once[key], value + original[hh_key], err_msg=key)
        elif key.replace("bias_hh", "bias_ih") in merged:
            np.testing.assert_array_equal(once[key], np.zeros_like(value), err_msg=key)
        else:  # everything else, GRU reset_after's two biases included, is exact
            np.testing.assert_array_equal(once[key], value, err_msg=key)

    # Once the biases are merged, the round trip is the identity on every tensor.
    torch_impl.load_state(torch_model, once)
    twice = _through_keras(torch_model)
    for key, value in once.items():
        np.testing.assert_array_equal(twice[key], value, err_msg=key)


@pytest.mark.parametrize("spec", ROUND_TRIP_SPECS, ids=SPEC_IDS)
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
