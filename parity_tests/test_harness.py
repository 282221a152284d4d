"""The harness itself: it must see the bugs it exists for, and report what it measured."""

from __future__ import annotations

import numpy as np
import pytest

from lstm2d.parity import assert_parity, build_pair, compare, random_inputs
from parity_tests.specs import PARITY_SPECS

RECT = next(spec for spec in PARITY_SPECS if spec.name == "rect-multichannel")


def test_passes_and_reports_each_output():
    keras_model, torch_model = build_pair(RECT, "keras_to_torch", seed=1)
    report = assert_parity(keras_model, torch_model, random_inputs(RECT, np.random.default_rng(2), batch=3), label="rect")
    assert [o.name for o in report.outputs] == keras_model.output_names
    assert report.outputs[0].shape == (3, 3)
    assert report.max_abs < 1e-5  # exactly 0 on CPUs where both sides pick kernels that agree bit for bit
    assert not report.uninformative


@pytest.mark.parametrize(
    ("reference", "useful"),
    [
        (np.array([[0.5], [-0.25]]), True),
        (np.zeros((2, 3)), False),  # a model that outputs zeros matches a broken candidate that outputs zeros
        (np.ones((3, 2)), False),  # the same for every sample: the inputs do not reach the output
        (np.array([[1.0, np.nan], [2.0, 3.0]]), False),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), False),
        (np.array([7.0]), True),  # one sample: nothing to vary
        (np.empty((0, 3)), False),
    ],
)
def test_a_reference_that_cannot_show_a_difference_is_flagged(reference, useful):
    report = compare({"y": reference}, {"y": reference.copy()}, atol=1e-5)
    assert report.uninformative == ([] if useful else ["y"])
    assert ("constant" in report.table()) is not useful


def test_catches_an_ignored_flatten_order(ignored_flatten_order):
    """Negative control: drop the HWC -> CHW row permutation and the harness must fail loudly."""
    keras_model, torch_model = build_pair(RECT, "keras_to_torch", seed=1)
    with pytest.raises(AssertionError, match="parity over tolerance") as info:
        assert_parity(keras_model, torch_model, random_inputs(RECT, np.random.default_rng(2), batch=3))
    assert "NO" in str(info.value)


def test_nan_is_never_within_tolerance():
    report = compare({"y": np.zeros((2, 1), np.float32)}, {"y": np.full((2, 1), np.nan, np.float32)}, atol=1e-5)
    assert not report.ok


def test_shape_mismatch_is_an_error():
    with pytest.raises(AssertionError, match="shape"):
        compare({"y": np.zeros((2, 1), np.float32)}, {"y": np.zeros((1, 2), np.float32)}, atol=1e-5)


def test_tensorflow_and_jax_average_over_valid_cells_only():
    """Pins the semantics lstm2d follows; only Keras' torch backend is known to differ."""
    import keras

    from parity_tests.known_issues import keras_avg_pool_same_counts_padding

    if keras.backend.backend() == "torch":
        pytest.skip("Keras' torch backend is the known exception (see parity_tests/known_issues.py)")
    assert not keras_avg_pool_same_counts_padding()
