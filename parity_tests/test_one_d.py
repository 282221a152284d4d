"""1D layers (``ONE_D_SPECS``): forward parity both ways of weight copy, masked sequences, and the gradients of a few
models that cover every 1D kind (``-m deep`` in ``test_gradients.py`` runs every spec, through ``ALL_SPECS``)."""

from __future__ import annotations

import numpy as np
import pytest

from lstm2d.parity import (
    DIRECTIONS,
    assert_parity,
    build_pair,
    check_gradients,
    check_spec,
    keras_outputs,
    random_inputs,
    torch_outputs,
)
from lstm2d.spec import Masking
from lstm2d.tolerances import FP32_CPU_FORWARD_ATOL
from parity_tests.known_issues import expected_keras_bug
from parity_tests.marks import DIRECTION_PARAMS
from parity_tests.specs import MASK_PATTERNS, ONE_D_SPECS, masked_inputs, open_timesteps, step_mask

pytestmark = [
    pytest.mark.usefixtures("single_torch_thread"),  # tiny models: see conftest
    pytest.mark.filterwarnings("ignore:Layer .* does not support masking:UserWarning"),  # what these tests check
]
SPECS = {spec.name: spec for spec in ONE_D_SPECS}
MASKED = [spec.name for spec in ONE_D_SPECS if any(isinstance(layer, Masking) for layer in spec.layers)]


@pytest.mark.parametrize("direction", DIRECTION_PARAMS)
@pytest.mark.parametrize("name", list(SPECS))
def test_one_d_forward_parity(name, direction):
    spec = SPECS[name]
    report = check_spec(spec, direction, seed=17, batch=3, timesteps=open_timesteps(spec))
    print(report.table())
    known_bug = expected_keras_bug(spec)
    if known_bug:
        assert not report.ok, f"expected this Keras backend to differ ({known_bug}), but it matches: drop the workaround"
        pytest.xfail(known_bug)
    assert report.ok, report.table()
    assert not report.uninformative, report.table()  # finite, not all zero, different between samples


MASKED_FAST = "gaps"  # masked steps in the middle; ``-m deep``: every padding layout


@pytest.mark.parametrize(
    "pattern",
    [pytest.param(p, marks=[] if p == MASKED_FAST else [pytest.mark.deep]) for p in MASK_PATTERNS if p != "a-sample-all-masked"],
)
@pytest.mark.parametrize("name", MASKED)
def test_masked_one_d_follows_keras(name, pattern):
    """A Masking layer's mask: averaged over by GlobalAveragePooling1D (through the LSTM's sequences), dropped by
    Conv1D and GlobalMaxPooling1D, for every padding layout."""
    spec = SPECS[name]
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=23)
    x = masked_inputs(spec, random_inputs(spec, np.random.default_rng(24), batch=4), pattern)
    report = assert_parity(keras_model, torch_model, x, label=f"{spec.name} {pattern}")
    assert not report.uninformative, report.table()


def test_a_sample_without_real_steps_averages_to_nan_as_in_keras():
    """Keras' masked average of a sample whose every step is masked is 0 / 0; so is lstm2d's (the others agree)."""
    spec = SPECS["masked-lstm-global-average"]
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=23)
    x = masked_inputs(spec, random_inputs(spec, np.random.default_rng(24), batch=4), "a-sample-all-masked")
    assert not step_mask("a-sample-all-masked", 4, 6)[1].any()
    reference = keras_outputs(keras_model, x)
    got = torch_outputs(torch_model, x, list(reference))
    for name, expected in reference.items():
        assert np.isnan(expected[1]).all() and np.isnan(got[name][1]).all()
        keep = [0, 2, 3]
        np.testing.assert_allclose(got[name][keep], expected[keep], rtol=0, atol=FP32_CPU_FORWARD_ATOL)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_mask_input_keeps_the_padding_out_of_the_average(direction):
    """GlobalAveragePooling1D given a boolean input as ``mask=``, and after a GRU whose sequences carry it: whatever the
    padding steps hold changes nothing, on either side."""
    spec = SPECS["global-average-mask-input"]
    keras_model, torch_model = build_pair(spec, direction, seed=29)
    rng = np.random.default_rng(30)
    mask = np.arange(6)[None, :] < np.array([6, 4, 1])[:, None]  # (B, T), True = a real step
    x = rng.standard_normal((3, 6, 3)).astype(np.float32)
    outputs = []
    for garbage in (100.0, -3.0):
        x[~mask] = garbage
        report = assert_parity(keras_model, torch_model, {"x": x, "m": mask}, label=f"{spec.name} padding {garbage}")
        assert not report.uninformative, report.table()
        outputs.append(torch_outputs(torch_model, {"x": x, "m": mask}, ["out"])["out"])
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=0, atol=FP32_CPU_FORWARD_ATOL)


GRADIENT_CASES = (  # (spec, direction, in the default run): every 1D kind in the default run, the rest with -m deep
    ("conv1d-front-end-lstm", "keras_to_torch", True),  # causal with dilation, strided even 'same', max pool 'same', LSTM
    ("conv1d-transpose", "keras_to_torch", True),  # every transposed-convolution crop
    ("pad-crop-upsample-global-max", "torch_to_keras", True),  # padding, cropping, upsampling, global max
    ("frames-flatten-conv1d-transpose", "keras_to_torch", True),  # a kernel's input channels in torch's flatten order
    ("global-average-mask-input", "torch_to_keras", True),  # the masked average: a mask input, a carried mask
    ("signals-conv-lstm1d", "torch_to_keras", True),  # ConvLSTM1D (go_backwards, strided, the last state), per-step Conv1D
    ("conv1d-groups-softmax-strided", "torch_to_keras", False),  # groups, softmax over the filters
    ("masked-lstm-global-average", "keras_to_torch", False),  # a Masking layer's mask through an LSTM
    ("signals-conv1d-per-step", "keras_to_torch", False),  # per step: 1D signals, time folded into the batch
    ("signals-open-time", "keras_to_torch", False),  # an open time axis
)


@pytest.mark.parametrize(
    ("name", "direction"),
    [pytest.param(name, direction, marks=[] if fast else [pytest.mark.deep]) for name, direction, fast in GRADIENT_CASES],
)
def test_one_d_gradients_match(name, direction):
    spec = SPECS[name]
    report = check_gradients(spec, direction, seed=11, batch=3, timesteps=open_timesteps(spec))
    print(report.table())
    assert report.ok, report.table()
    assert not report.uninformative, report.table()  # every gradient finite, not all zero
