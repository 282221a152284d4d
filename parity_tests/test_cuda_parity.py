"""The torch model on CUDA against Keras on the CPU (TF32 off): cuDNN convolutions and recurrent kernels, packed
sequences for masks, the exact step loops. Skips without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm2d.parity import assert_parity, build_pair, random_inputs
from parity_tests.known_issues import expect_keras_cannot_run, expected_keras_bug
from parity_tests.specs import (
    GRAPH_SPECS,
    INPUT_KIND_SPECS,
    LAYER_SPECS,
    MASK_PATTERNS,
    MASKED_SPECS,
    ONE_D_SPECS,
    PARITY_SPECS,
    masked_inputs,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture
def no_tf32():
    """cuDNN convolutions and matmuls default to (or may use) TF32 on Ampere+: off for fp32 parity."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _on_cuda(spec, seed: int):
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=seed)
    torch_model = torch_model.cuda()
    torch_model.flatten_parameters()
    return keras_model, torch_model


@pytest.mark.parametrize(
    "spec", (*PARITY_SPECS, *LAYER_SPECS, *GRAPH_SPECS, *INPUT_KIND_SPECS, *ONE_D_SPECS), ids=lambda spec: spec.name
)
def test_cuda_forward_parity(request, spec, no_tf32):
    expect_keras_cannot_run(request, spec)
    known_bug = expected_keras_bug(spec)
    if known_bug:  # Keras is the side that is wrong; strict: the test fails once it is right
        request.applymarker(pytest.mark.xfail(reason=known_bug, raises=AssertionError, strict=True))
    keras_model, torch_model = _on_cuda(spec, seed=21)
    inputs = random_inputs(spec, np.random.default_rng(22), batch=3, timesteps=5)  # 5 where a time axis is open
    assert_parity(keras_model, torch_model, inputs, label=f"{spec.name} on {torch.cuda.get_device_name()}")


@pytest.mark.parametrize("pattern", MASK_PATTERNS)
@pytest.mark.parametrize("spec", MASKED_SPECS, ids=lambda spec: spec.name)
def test_cuda_masked_parity(spec, pattern, no_tf32):
    keras_model, torch_model = _on_cuda(spec, seed=23)
    inputs = masked_inputs(spec, random_inputs(spec, np.random.default_rng(24), batch=4), pattern)
    assert_parity(keras_model, torch_model, inputs, label=f"{spec.name} {pattern} on {torch.cuda.get_device_name()}")
