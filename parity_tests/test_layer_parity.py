"""Forward parity for every layer kind and setting (``LAYER_SPECS``) and for masked sequences (``MASKED_SPECS``)."""

from __future__ import annotations

import numpy as np
import pytest

from lstm2d.parity import assert_parity, build_pair, check_spec, random_inputs
from parity_tests.known_issues import expect_keras_cannot_run, expected_keras_bug
from parity_tests.marks import DIRECTION_PARAMS
from parity_tests.specs import LAYER_SPECS, MASK_PATTERNS, MASKED_SPECS, masked_inputs, open_timesteps


@pytest.mark.parametrize("direction", DIRECTION_PARAMS)
@pytest.mark.parametrize("spec", LAYER_SPECS, ids=lambda spec: spec.name)
def test_layer_forward_parity(request, spec, direction):
    expect_keras_cannot_run(request, spec)
    report = check_spec(spec, direction, seed=17, batch=3, timesteps=open_timesteps(spec))
    known_bug = expected_keras_bug(spec)
    if known_bug:
        assert not report.ok, f"expected this Keras backend to differ ({known_bug}), but it matches: drop the workaround"
        pytest.xfail(known_bug)
    assert report.ok, report.table()
    assert len(report.outputs) == len(spec.outputs)


@pytest.mark.parametrize("pattern", MASK_PATTERNS)
@pytest.mark.parametrize("spec", MASKED_SPECS, ids=lambda spec: spec.name)
def test_masked_sequences_follow_keras(spec, pattern):
    """Masked steps carry the state and repeat the output (zeros inside a Bidirectional), as Keras does."""
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=23)
    x = random_inputs(spec, np.random.default_rng(24), batch=4)
    x = masked_inputs(spec, x, pattern)
    report = assert_parity(keras_model, torch_model, x, label=f"{spec.name} {pattern}")
    assert not report.uninformative, report.table()  # finite, not all zero, different between samples
