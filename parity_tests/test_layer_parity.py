"""Forward parity for every layer kind and setting (``LAYER_SPECS``) and for masked sequences (``MASKED_SPECS``)."""

from __future__ import annotations

import numpy as np
import pytest

from lstm2d.parity import DIRECTIONS, assert_parity, build_pair, check_spec, random_inputs
from lstm2d.spec import Masking
from parity_tests.specs import LAYER_SPECS, MASKED_SPECS


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("spec", LAYER_SPECS, ids=lambda spec: spec.name)
def test_layer_forward_parity(spec, direction):
    report = check_spec(spec, direction, seed=17, batch=3)
    assert report.ok, report.table()
    assert len(report.outputs) == spec.outputs


def _step_mask(pattern: str, batch: int, steps: int) -> np.ndarray:
    """``True`` where a timestep is real, per sample: the padding layouts people feed a Masking layer."""
    valid = np.ones((batch, steps), dtype=bool)
    if pattern == "right-padding":  # post-padding, different lengths (the fused, packed path)
        for b, length in enumerate((steps, steps - 2, 1, steps - 1)[:batch]):
            valid[b, length:] = False
    elif pattern == "left-padding":  # pre-padding (Keras' pad_sequences default)
        for b, length in enumerate((steps, 2, steps - 1, 1)[:batch]):
            valid[b, : steps - length] = False
    elif pattern == "gaps":  # missing readings in the middle
        valid[:, 1] = False
        valid[1::2, 3] = False
    elif pattern == "a-sample-all-masked":
        valid[1, :] = False
        valid[2, 3:] = False
    return valid


@pytest.mark.parametrize("pattern", ["right-padding", "left-padding", "gaps", "a-sample-all-masked"])
@pytest.mark.parametrize("spec", MASKED_SPECS, ids=lambda spec: spec.name)
def test_masked_sequences_follow_keras(spec, pattern):
    """Masked steps carry the state and repeat the output (zeros inside a Bidirectional), as Keras does."""
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=23)
    x = random_inputs(spec, np.random.default_rng(24), batch=4)
    valid = _step_mask(pattern, *x.shape[:2])
    mask_value = next(layer.mask_value for layer in spec.layers if isinstance(layer, Masking))
    x[~valid] = mask_value  # every feature of a masked step equals mask_value
    report = assert_parity(keras_model, torch_model, x, label=f"{spec.name} {pattern}")
    assert report.max_abs > 0 or pattern == "a-sample-all-masked"  # the comparison saw real numbers
