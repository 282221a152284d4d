"""Forward parity for graphs (``GRAPH_SPECS``) and every kind of input (``INPUT_KIND_SPECS``), both directions of
weight copy; the semantics of a boolean mask input; a training trajectory of a multi-input graph (``-m deep``); and
that every layer kind is in some parity spec. Gradients of these specs: ``test_gradients.py``."""

from __future__ import annotations

import numpy as np
import pytest

from lstm2d.parity import DIRECTIONS, assert_parity, build_pair, check_spec, check_trajectory, keras_outputs, torch_outputs
from lstm2d.spec import LAYER_KINDS
from lstm2d.tolerances import FP32_CPU_FORWARD_ATOL
from parity_tests.known_issues import expect_keras_cannot_run, expected_keras_bug
from parity_tests.marks import DIRECTION_PARAMS
from parity_tests.specs import ALL_SPECS, CATALOG_FILE_SAMPLES, CATALOG_SPECS, GRAPH_SPECS, INPUT_KIND_SPECS, open_timesteps

SPECS = {spec.name: spec for spec in (*GRAPH_SPECS, *INPUT_KIND_SPECS)}


@pytest.mark.parametrize("direction", DIRECTION_PARAMS)
@pytest.mark.parametrize("name", list(SPECS))
def test_graph_forward_parity(request, name, direction):
    spec = SPECS[name]
    expect_keras_cannot_run(request, spec)
    report = check_spec(spec, direction, seed=17, batch=3, timesteps=open_timesteps(spec))
    print(report.table())
    known_bug = expected_keras_bug(spec)
    if known_bug:
        assert not report.ok, f"expected this Keras backend to differ ({known_bug}), but it matches: drop the workaround"
        pytest.xfail(known_bug)
    assert report.ok, report.table()
    assert len(report.outputs) == len(spec.outputs)
    assert not report.uninformative, report.table()  # finite, not all zero, different between samples


LENGTHS = (6, 4, 1)  # right padding: all steps, some, one


def _padded(garbage: float) -> dict[str, np.ndarray]:
    """Inputs of ``gru-mask-input``: random steps ``x`` (B, T, 4), ``garbage`` in every padding step, the mask ``m``."""
    rng = np.random.default_rng(31)
    mask = np.arange(6)[None, :] < np.array(LENGTHS)[:, None]  # (B, T), True = a real step
    x = rng.standard_normal((len(LENGTHS), 6, 4)).astype(np.float32)
    x[~mask] = garbage
    return {"x": x, "m": mask}


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_mask_input_follows_keras_semantics(direction):
    """A GRU given ``mask=`` a boolean input skips the padding steps: its state is carried through them and, with
    return_sequences, its last real output repeated there, so what the padding holds changes nothing."""
    spec = SPECS["gru-mask-input"]
    keras_model, torch_model = build_pair(spec, direction, seed=29)
    inputs = _padded(garbage=100.0)
    report = assert_parity(keras_model, torch_model, inputs, label=f"{spec.name} right padding")
    assert not report.uninformative, report.table()
    runs = {
        "keras": lambda x: keras_outputs(keras_model, x)["out"],
        "torch": lambda x: torch_outputs(torch_model, x, ["out"])["out"],
    }
    for side, run in runs.items():
        out, again = run(inputs), run(_padded(garbage=-3.0))  # (B, T, 2) each
        np.testing.assert_allclose(again, out, rtol=0, atol=FP32_CPU_FORWARD_ATOL, err_msg=f"{side}: padding leaks in")
        for b, length in enumerate(LENGTHS):
            repeated = np.broadcast_to(out[b, length - 1], out[b, length:].shape)
            np.testing.assert_allclose(out[b, length:], repeated, rtol=0, atol=FP32_CPU_FORWARD_ATOL, err_msg=f"{side} {b}")


def test_catches_an_ignored_flatten_order_in_joined_features(ignored_flatten_order):
    """Negative control: without the HWC -> CHW row permutation the joined features of two flattened frames (each
    its own permutation, end to end) reach the Dense and LSTM weights in the wrong order."""
    report = check_spec(SPECS["concat-flattened-frames"], "keras_to_torch", seed=17, batch=3)
    assert not report.ok, report.table()


@pytest.mark.deep
def test_multi_input_graph_trajectory():
    """20 SGD steps of a two-input graph whose per-frame backbone (a nested model under TimeDistributed) has a
    BatchNormalization: batch statistics per timestep and one moving-average update per step, as in Keras."""
    spec = SPECS["backbone-side-sequence"]
    report = check_trajectory(spec, optimizer="sgd", loss="mse", steps=20, seed=3)
    print(report.table())
    assert report.ok, report.table()
    assert not report.uninformative, report.table()


PARITY_KINDS = {layer.kind for spec in ALL_SPECS for layer in spec.all_layers()}  # nested models' layers too


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS))
def test_every_layer_kind_is_in_a_parity_spec(kind):
    assert kind in PARITY_KINDS, f"no parity spec uses layer kind {kind!r}: add one to parity_tests/specs.py"


def test_spec_names_are_unique():
    names = [spec.name for spec in ALL_SPECS]
    shared = sorted({name for name in names if names.count(name) > 1})
    assert not shared, f"parity specs share the names {shared}; the tests key specs by name"


def test_the_catalog_file_samples_cover_every_catalog_kind():
    """The default run's Keras files of the layer catalog hold every kind that the catalog's specs hold."""
    assert {spec.name for spec in CATALOG_SPECS} >= CATALOG_FILE_SAMPLES
    sampled = {layer.kind for spec in CATALOG_SPECS if spec.name in CATALOG_FILE_SAMPLES for layer in spec.all_layers()}
    assert sampled == {layer.kind for spec in CATALOG_SPECS for layer in spec.all_layers()}
